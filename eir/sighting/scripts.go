package sighting

import "github.com/redis/go-redis/v9"

// The record of one (IMEI, IMSI) pair, the value of the field IMSI in the
// hash of the IMEI. Big-endian, 32 bytes then the MSISDN:
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
// Lua 5.1 numbers are doubles, so the scripts handle each 64-bit bitmap as
// two 32-bit halves (hi, lo) with the bit library.
const (
	recordFixed = 32
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

// pairScript updates one pair in the hash of an IMEI.
//
// KEYS[1] the IMEI's hash. ARGV: 1 IMSI, 2 time (unix s), 3 day offset (s),
// 4 retention (s), 5 admitted (0|1), 6 SVN (255: none), 7 peer id (0: none),
// 8 interface bit, 9 MSISDN (BCD, "" keeps the last one), 10 max pairs,
// 11 key TTL (s).
//
// It drops the fields whose last seen is before time - retention (the
// store enforces retention itself: no sweeper), evicts the pair seen
// longest ago when the hash holds more than max pairs (a cloned IMEI seen
// with thousands of SIMs must not make each write O(thousands)), sets the
// key's TTL, and returns {new pair 0|1, new day 0|1, live pairs}, the live
// pairs (field, value, ...) only when there are more than one.
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
local out = {}
if redis.call('HLEN', KEYS[1]) > 1 then
  local all = redis.call('HGETALL', KEYS[1])
  local live = {}
  local oldest, oldestAt = nil, nil
  for i = 1, #all, 2 do
    local l = struct.unpack('>I4', all[i + 1], 5)
    if l < cutoff then
      redis.call('HDEL', KEYS[1], all[i])
    else
      live[#live + 1] = i
      if all[i] ~= ARGV[1] and (oldestAt == nil or l < oldestAt) then oldest, oldestAt = i, l end
    end
  end
  if #live > tonumber(ARGV[10]) and oldest then
    redis.call('HDEL', KEYS[1], all[oldest])
  end
  if #live > 1 then
    for _, i in ipairs(live) do
      if not (i == oldest and #live > tonumber(ARGV[10])) then
        out[#out + 1] = all[i]
        out[#out + 1] = all[i + 1]
      end
    end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[11])
return {isnew, newday, out}
`)

// subscriberScript records that an IMSI was seen with an IMEI, in the hash
// of the IMSI: field "c" = the current IMEI and since when
// ("<14 digits>,<unix s>"), one field per IMEI = its last seen (unix s).
//
// KEYS[1] the IMSI's hash. ARGV: 1 IMEI (14 digits), 2 time (unix s),
// 3 retention (s), 4 key TTL (s).
//
// It drops the IMEIs last seen before time - retention, swaps the current
// IMEI unless the observation is older than the current one's since, and
// returns {changed 0|1, previous current value or ""}; a previous IMEI
// whose field was dropped is reported as "" (not seen within retention).
var subscriberScript = redis.NewScript(`
local ts = tonumber(ARGV[2])
local cutoff = ts - tonumber(ARGV[3])
if redis.call('HLEN', KEYS[1]) > 2 then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if all[i] ~= 'c' and tonumber(all[i + 1]) < cutoff then redis.call('HDEL', KEYS[1], all[i]) end
  end
end
local prev = redis.call('HGET', KEYS[1], 'c')
if prev then
  local seen = tonumber(redis.call('HGET', KEYS[1], string.sub(prev, 1, 14)) or '0')
  if seen < cutoff then prev = false end
end
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if ts > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local changed = 0
if not prev then
  redis.call('HSET', KEYS[1], 'c', ARGV[1] .. ',' .. ARGV[2])
  prev = ''
elseif string.sub(prev, 1, 14) ~= ARGV[1] and ts >= tonumber(string.sub(prev, 16)) then
  redis.call('HSET', KEYS[1], 'c', ARGV[1] .. ',' .. ARGV[2])
  changed = 1
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {changed, prev}
`)
