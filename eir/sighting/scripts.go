package sighting

import "github.com/redis/go-redis/v9"

// The record of one (IMEI, IMSI) pair, the value of the field
// <IMEI, 6 bytes big-endian><IMSI digits> in the IMEI index's bucket.
// Big-endian, 32 bytes then the MSISDN:
//
//	off len
//	  0   4  first seen, unix seconds
//	  4   4  last seen, unix seconds
//	  8   2  number of days seen (saturating at 65535)
//	 10   8  days seen: bit 0 = the day of last seen, bit k = k days earlier
//	 18   8  days with an admitted answer (not blocked), same bit order
//	 26   1  last SVN (0xff: none sent)
//	 27   4  last peer (id of an interned peer name, 0: none)
//	 31   1  interfaces (bit 0 s13, bit 1 n5g); bit 7 (flagSiblings): the
//	         IMEI had other pairs at the last scan of its bucket
//	 32   -  last MSISDN in packed BCD (TS 29.002 TBCD order, 0xf filler), may be empty
//
// The value of the field <IMSI digits> in the IMSI index's bucket:
//
//	off len
//	  0   4  since when the current IMEI is current, unix seconds
//	  4   6  current IMEI (6 bytes big-endian)
//	 10  10n one entry per IMEI seen: IMEI (6 bytes), last seen (4 bytes)
//
// Lua 5.1 numbers are doubles, so the scripts handle each 64-bit bitmap as
// two 32-bit halves (hi, lo) with the bit library. Fields and values stay
// under 64 bytes (hash-max-listpack-value) for up to 5 IMEIs per IMSI.
const (
	recordFixed = 32
	imeiLen     = 6
	entryLen    = imeiLen + 4
	luaRecord   = `'>I4I4HI4I4I4I4BI4B'`
	// flagSiblings is the bit of the interfaces byte telling the pair
	// script that the IMEI has other pairs to return (concurrent use).
	flagSiblings    = 0x80
	luaFlagSiblings = "128"
)

// luaMark are the helpers of the prune mark, shared by the scripts.
const luaMark = `
local function day(t, off) return math.floor((t + off) / 86400) end
-- A bucket is pruned, and its TTL set, on its first write of a UTC day:
-- its field '' holds that day. A day more than one ahead of ts (a clock
-- stepped back) counts as stale too. The TTL is the retention plus a day,
-- so that it outlives every write of the day by the retention.
local function stale(mark, ts)
  if not mark then return true end
  local d, t = struct.unpack('>I4', mark), day(ts, 0)
  return d < t or d > t + 1
end
local function pruned(ts, ttl)
  redis.call('HSET', KEYS[1], '', struct.pack('>I4', day(ts, 0)))
  redis.call('EXPIRE', KEYS[1], tonumber(ttl) + 86400)
end
`

// luaBits are the 64-bit bitmap helpers of the pair script.
const luaBits = `
local function u32(x) if x < 0 then return x + 4294967296 end return x end
local function shl(hi, lo, d)
  if d <= 0 then return hi, lo end
  if d >= 64 then return 0, 0 end
  if d >= 32 then return u32(bit.lshift(lo, d - 32)), 0 end
  return u32(bit.bor(bit.lshift(hi, d), bit.rshift(lo, 32 - d))), u32(bit.lshift(lo, d))
end
local function setbit(hi, lo, k)
  if k < 32 then
    local m = bit.lshift(1, k)
    if bit.band(lo, m) ~= 0 then return hi, lo, true end
    return hi, u32(bit.bor(lo, m)), false
  end
  local m = bit.lshift(1, k - 32)
  if bit.band(hi, m) ~= 0 then return hi, lo, true end
  return u32(bit.bor(hi, m)), lo, false
end
`

// pairScript updates one pair in a bucket of the IMEI index.
//
// KEYS[1] the bucket. ARGV: 1 field (IMEI, 6 bytes, then the IMSI), 2 time
// (unix s), 3 day offset (s), 4 retention (s), 5 admitted (0|1), 6 SVN
// (255: none), 7 peer id (0: none), 8 interface bit, 9 MSISDN (BCD, ""
// keeps the last one), 10 max pairs, 11 key TTL (s).
//
// Most writes are a pair already recorded that day, of an IMEI with no
// other pair: those read and write the pair's field only (HMGET, HSET).
// More is read
//   - on the bucket's first write of a UTC day (its field "" holds the day
//     of the last prune): the whole bucket (~64 fields), to drop the
//     fields last seen before time - retention (the store enforces
//     retention itself, no sweeper), and the key's TTL is set;
//   - for a new pair or a new day of a pair (the duplicate rules change),
//     or when the pair has siblings (the flag below; concurrent use): the
//     IMEI's fields, which Redis finds (HSCAN MATCH on the IMEI's bytes).
//
// That read finds the IMEI's other live pairs, evicts the one seen longest
// ago when there are more than max pairs (a cloned IMEI seen with thousands
// of SIMs must not make each write O(thousands)), and sets flagSiblings on
// each of the IMEI's pairs when there is more than one (cleared on this one
// when there is not). It returns {new pair 0|1, new day 0|1, live pairs},
// the IMEI's live pairs (field, value, ...) only when that read ran and
// found more than one.
//
// An observation older than the last one (a reordered batch) sets its day
// bit but leaves the "last" fields alone.
var pairScript = redis.NewScript(luaMark + luaBits + `
local F = ` + luaRecord + `
local SIB = ` + luaFlagSiblings + `
local ts = tonumber(ARGV[2])
local off = tonumber(ARGV[3])
local cutoff = ts - tonumber(ARGV[4])
local got = redis.call('HMGET', KEYS[1], '', ARGV[1])
local mark, cur = got[1], got[2]
local prune = stale(mark, ts)
local isnew, newday = 0, 0
local first, last, ndays, dhi, dlo, ahi, alo, svn, peer, ifc, msisdn
if cur then
  first, last, ndays, dhi, dlo, ahi, alo, svn, peer, ifc = struct.unpack(F, cur)
  msisdn = string.sub(cur, 33)
  if last < cutoff then cur = nil end
end
if not cur then
  isnew = 1
  first, last, ndays, dhi, dlo, ahi, alo, svn, peer, ifc, msisdn = ts, ts, 0, 0, 0, 0, 0, 255, 0, 0, ''
end
local lday, oday = day(last, off), day(ts, off)
local k = lday - oday
if k < 0 then
  dhi, dlo = shl(dhi, dlo, -k)
  ahi, alo = shl(ahi, alo, -k)
  k = 0
end
if k < 64 then
  local was
  dhi, dlo, was = setbit(dhi, dlo, k)
  if not was then
    newday = 1
    if ndays < 65535 then ndays = ndays + 1 end
  end
  if ARGV[5] == '1' then ahi, alo = setbit(ahi, alo, k) end
end
if ts >= last then
  last = ts
  if ARGV[6] ~= '255' then svn = tonumber(ARGV[6]) end
  if ARGV[7] ~= '0' then peer = tonumber(ARGV[7]) end
  if ARGV[9] ~= '' then msisdn = ARGV[9] end
end
if ts < first then first = ts end
ifc = bit.bor(ifc, tonumber(ARGV[8]))
local function record() return struct.pack(F, first, last, ndays, dhi, dlo, ahi, alo, svn, peer, ifc) .. msisdn end
local out = {}
if prune or isnew == 1 or newday == 1 or bit.band(ifc, SIB) ~= 0 then
  local pre = string.sub(ARGV[1], 1, 6)
  -- live: the IMEI's other pairs within retention, {field, value, last}.
  local live, seen = {}, {}
  local function visit(f, v)
    if #f <= 6 or f == ARGV[1] or seen[f] then return end
    seen[f] = true
    local l = struct.unpack('>I4', v, 5)
    if l < cutoff then
      redis.call('HDEL', KEYS[1], f)
    elseif string.sub(f, 1, 6) == pre then
      live[#live + 1] = {f, v, l}
    end
  end
  if prune then
    local all = redis.call('HGETALL', KEYS[1])
    for i = 1, #all, 2 do visit(all[i], all[i + 1]) end
  else
    -- The IMEI's fields only, matched by Redis (glob, the prefix's bytes
    -- escaped): Lua sees none of the bucket's other fields.
    local pat = string.gsub(pre, '[%*%?%[%]\\]', '\\%0') .. '*'
    local cursor = '0'
    repeat
      local r = redis.call('HSCAN', KEYS[1], cursor, 'MATCH', pat, 'COUNT', 1000)
      cursor = r[1]
      for i = 1, #r[2], 2 do visit(r[2][i], r[2][i + 1]) end
    until cursor == '0'
  end
  if #live > 0 and #live + 1 > tonumber(ARGV[10]) then
    local oldest = 1
    for j = 2, #live do
      if live[j][3] < live[oldest][3] then oldest = j end
    end
    redis.call('HDEL', KEYS[1], live[oldest][1])
    table.remove(live, oldest)
  end
  if #live > 0 then
    ifc = bit.bor(ifc, SIB)
    for _, e in ipairs(live) do
      local v = e[2]
      local b = string.byte(v, 32)
      if bit.band(b, SIB) == 0 then
        v = string.sub(v, 1, 31) .. string.char(bit.bor(b, SIB)) .. string.sub(v, 33)
        redis.call('HSET', KEYS[1], e[1], v)
      end
      out[#out + 1] = e[1]
      out[#out + 1] = v
    end
    out[#out + 1] = ARGV[1]
    out[#out + 1] = record()
  else
    ifc = bit.band(ifc, 255 - SIB)
  end
end
redis.call('HSET', KEYS[1], ARGV[1], record())
if prune then pruned(ts, ARGV[11]) end
return {isnew, newday, out}
`)

// subscriberScript records that an IMSI was seen with an IMEI, in the
// IMSI's field of a bucket of the IMSI index (value: scripts.go, above).
//
// KEYS[1] the bucket. ARGV: 1 IMSI, 2 IMEI (6 bytes), 3 time (unix s),
// 4 retention (s), 5 key TTL (s), 6 max IMEIs (the IMEI seen longest ago
// is dropped from the value beyond).
//
// It drops, from the IMSI's value, the IMEIs last seen before time -
// retention; swaps the current IMEI unless the observation is older than
// the current one's since; and returns {changed 0|1, previous current IMEI
// (6 bytes) and since (4 bytes), or ""}; a previous IMEI dropped is
// reported as "" (not seen within retention). On the bucket's first write
// of a UTC day (its field "" holds the day of the last prune) it also
// drops the other fields whose IMEIs were all last seen before the
// retention; otherwise it reads the IMSI's field only.
var subscriberScript = redis.NewScript(luaMark + `
local ts = tonumber(ARGV[3])
local cutoff = ts - tonumber(ARGV[4])
local got = redis.call('HMGET', KEYS[1], '', ARGV[1])
local mark, v = got[1], got[2]
local prune = stale(mark, ts)
if prune then
  local function live(x)
    for j = 11, #x, 10 do
      if struct.unpack('>I4', x, j + 6) >= cutoff then return true end
    end
    return false
  end
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    local f = all[i]
    if f ~= '' and f ~= ARGV[1] and not live(all[i + 1]) then redis.call('HDEL', KEYS[1], f) end
  end
end
local since, cur, seen = 0, '', {}
if v then
  since, cur = struct.unpack('>I4', v), string.sub(v, 5, 10)
  for j = 11, #v, 10 do
    local l = struct.unpack('>I4', v, j + 6)
    if l >= cutoff then seen[#seen + 1] = {string.sub(v, j, j + 5), l} end
  end
end
local prev, found = '', false
for _, e in ipairs(seen) do
  if e[1] == cur then prev = cur .. struct.pack('>I4', since) end
  if e[1] == ARGV[2] then
    found = true
    if ts > e[2] then e[2] = ts end
  end
end
if not found then seen[#seen + 1] = {ARGV[2], ts} end
if #seen > tonumber(ARGV[6]) then
  -- Over max IMEIs (a SIM moved through a lab's or a refurbisher's
  -- devices): drop the one seen longest ago, never the one written.
  local oldest
  for j, e in ipairs(seen) do
    if e[1] ~= ARGV[2] and (not oldest or e[2] < seen[oldest][2]) then oldest = j end
  end
  table.remove(seen, oldest)
end
local changed = 0
if prev == '' then
  cur, since = ARGV[2], ts
elseif cur ~= ARGV[2] and ts >= since then
  cur, since, changed = ARGV[2], ts, 1
end
local out = {struct.pack('>I4', since), cur}
for _, e in ipairs(seen) do out[#out + 1] = e[1] .. struct.pack('>I4', e[2]) end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(out))
if prune then pruned(ts, ARGV[5]) end
return {changed, prev}
`)

// forgetScript deletes fields of a bucket (ARGV), and the bucket when only
// its prune mark (field "") is left.
var forgetScript = redis.NewScript(`
redis.call('HDEL', KEYS[1], unpack(ARGV))
if redis.call('HLEN', KEYS[1]) == 1 and redis.call('HEXISTS', KEYS[1], '') == 1 then redis.call('DEL', KEYS[1]) end
return 0
`)
