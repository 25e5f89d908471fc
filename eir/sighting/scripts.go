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
//	 31   1  interfaces (bit 0 s13, bit 1 n5g)
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
)

// luaBits are the 64-bit bitmap helpers shared by the scripts.
const luaBits = `
local function u32(x) if x < 0 then return x + 4294967296 end return x end
local function day(t, off) return math.floor((t + off) / 86400) end
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
// It drops the bucket's fields last seen before time - retention (the
// store enforces retention itself: no sweeper; a bucket holds ~64 fields,
// so the scan is short), evicts the IMEI's pair seen longest ago when it
// has more than max pairs (a cloned IMEI seen with thousands of SIMs must
// not make each write O(thousands)), sets the key's TTL, and returns
// {new pair 0|1, new day 0|1, live pairs}, the IMEI's live pairs (field,
// value, ...) only when there are more than one.
//
// An observation older than the last one (a reordered batch) sets its day
// bit but leaves the "last" fields alone.
var pairScript = redis.NewScript(luaBits + `
local F = ` + luaRecord + `
local ts = tonumber(ARGV[2])
local off = tonumber(ARGV[3])
local cutoff = ts - tonumber(ARGV[4])
local isnew, newday = 0, 0
local first, last, ndays, dhi, dlo, ahi, alo, svn, peer, ifc, msisdn
local cur = redis.call('HGET', KEYS[1], ARGV[1])
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
redis.call('HSET', KEYS[1], ARGV[1], struct.pack(F, first, last, ndays, dhi, dlo, ahi, alo, svn, peer, ifc) .. msisdn)
local pre = string.sub(ARGV[1], 1, 6)
local all = redis.call('HGETALL', KEYS[1])
local live = {}
local oldest, oldestAt = nil, nil
for i = 1, #all, 2 do
  local l = struct.unpack('>I4', all[i + 1], 5)
  if l < cutoff then
    redis.call('HDEL', KEYS[1], all[i])
  elseif string.sub(all[i], 1, 6) == pre then
    live[#live + 1] = i
    if all[i] ~= ARGV[1] and (oldestAt == nil or l < oldestAt) then oldest, oldestAt = i, l end
  end
end
local evict = #live > tonumber(ARGV[10]) and oldest
if evict then redis.call('HDEL', KEYS[1], all[oldest]) end
local out = {}
if #live > 1 then
  for _, i in ipairs(live) do
    if not (evict and i == oldest) then
      out[#out + 1] = all[i]
      out[#out + 1] = all[i + 1]
    end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[11])
return {isnew, newday, out}
`)

// subscriberScript records that an IMSI was seen with an IMEI, in the
// IMSI's field of a bucket of the IMSI index (value: scripts.go, above).
//
// KEYS[1] the bucket. ARGV: 1 IMSI, 2 IMEI (6 bytes), 3 time (unix s),
// 4 retention (s), 5 key TTL (s).
//
// It drops the bucket's fields whose IMEIs were all last seen before time
// - retention and, in the IMSI's value, such IMEIs; swaps the current IMEI
// unless the observation is older than the current one's since; and
// returns {changed 0|1, previous current IMEI (6 bytes) and since (4
// bytes), or ""}; a previous IMEI dropped is reported as "" (not seen
// within retention).
var subscriberScript = redis.NewScript(`
local ts = tonumber(ARGV[3])
local cutoff = ts - tonumber(ARGV[4])
local function live(v)
  for j = 11, #v, 10 do
    if struct.unpack('>I4', v, j + 6) >= cutoff then return true end
  end
  return false
end
local all = redis.call('HGETALL', KEYS[1])
local v
for i = 1, #all, 2 do
  if all[i] == ARGV[1] then v = all[i + 1]
  elseif not live(all[i + 1]) then redis.call('HDEL', KEYS[1], all[i]) end
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
local changed = 0
if prev == '' then
  cur, since = ARGV[2], ts
elseif cur ~= ARGV[2] and ts >= since then
  cur, since, changed = ARGV[2], ts, 1
end
local out = {struct.pack('>I4', since), cur}
for _, e in ipairs(seen) do out[#out + 1] = e[1] .. struct.pack('>I4', e[2]) end
redis.call('HSET', KEYS[1], ARGV[1], table.concat(out))
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {changed, prev}
`)
