#!/usr/bin/env python3
"""Writes a few seed inputs into fuzz/corpus/<target>/ (not committed):
valid examples of each input format, so the fuzzer starts from inputs that
reach the decoders' inner cases. The first byte of an aof_replay or
snapshot_load seed is 1: the target fixes the checksums itself, so none are
computed here. Run from anywhere: python3 fuzz/seeds.py"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def u32(n):
    return struct.pack("<I", n)


def framed(payload):
    return u32(len(payload)) + u32(0) + payload


def string(b):
    return u32(len(b)) + b


# commands: one client's pipeline, a request per line, arguments by spaces.
COMMANDS = [
    b"SET k v EX 10 NX GET\nSET k v PX 5 KEEPTTL XX\nGETEX k PERSIST\nSETRANGE k 3 abc\nGETRANGE k 0 -1",
    b"ZADD z NX CH 1 a 2 b\nZADD z GT INCR 3 a\nZRANGE z 0 -1 BYSCORE LIMIT 0 1 WITHSCORES\nZRANGE z [a (c BYLEX REV\nZRANGESTORE d z 0 -1\nZUNIONSTORE u 2 z d WEIGHTS 1 2 AGGREGATE MAX",
    b"RPUSH l a b c a\nLPOS l a RANK -1 COUNT 0 MAXLEN 10\nLINSERT l BEFORE b x\nLMOVE l l2 LEFT RIGHT\nLMPOP 2 l l2 LEFT COUNT 2\nBLPOP l 0.01",
    b"HSET h f v g w\nHRANDFIELD h -5 WITHVALUES\nHINCRBYFLOAT h f 1.5\nSADD s a b\nSRANDMEMBER s -3\nSINTERCARD 1 s LIMIT 1\nSPOP s 2",
    b"SCAN 0 MATCH * COUNT 10 TYPE string\nCLIENT SETNAME x\nCLIENT LIST ID 1\nCLIENT NO-EVICT on\nCONFIG SET maxmemory 1000000\nCONFIG GET *\nINFO all\nCOMMAND GETKEYS SET k v",
    b"MULTI\nINCR n\nEXPIRE n 100 GT\nEXEC\nOBJECT ENCODING n\nSELECT 1\nRENAME a b\nHELLO 3 SETNAME c\nACL CAT\nSLOWLOG GET 1\nLATENCY LATEST",
]
for i, c in enumerate(COMMANDS):
    write("commands", str(i), b"\x07" + c)


# aof_replay: records after the header block.
def record(db, *argv):
    p = bytes([db]) + u32(len(argv)) + b"".join(string(a) for a in argv)
    return framed(p)


AOF = [
    record(0, b"SET", b"k", b"v", b"PXAT", b"99999999999999"),
    record(1, b"RPUSH", b"l", b"a", b"b"),
    record(0, b"HSET", b"h", b"f", b"v"),
    record(0, b"SADD", b"s", b"m"),
    record(0, b"ZADD", b"z", b"1.5", b"m"),
    record(0, b"PEXPIREAT", b"h", b"1"),
    record(0, b"DEL", b"k"),
    record(0, b"INCRBYFLOAT", b"f", b"2.5"),
]
write("aof_replay", "all", b"\x01" + b"".join(AOF))
for i, r in enumerate(AOF):
    write("aof_replay", str(i), b"\x01" + r)


# snapshot_load: records after the header block, then the footer.
def entry(db, kind, key, items, expire=0):
    return framed(bytes([1, db, kind]) + struct.pack("<Q", expire) + string(key)
                  + u32(len(items)) + b"".join(items))


def more(db, kind, key, items):
    return framed(bytes([2, db, kind]) + string(key) + u32(len(items)) + b"".join(items))


def score(s, m):
    return struct.pack("<d", s) + string(m)


FOOTER = framed(b"\xff" + b"\0" * 28)
SNAP = [
    entry(0, 0, b"k", [string(b"v")], expire=99999999999999),
    entry(0, 1, b"l", [string(b"a"), string(b"b")]) + more(0, 1, b"l", [string(b"c")]),
    entry(2, 2, b"h", [string(b"f"), string(b"v")]),
    entry(0, 3, b"s", [string(b"a")]) + more(0, 3, b"s", [string(b"b")]),
    entry(0, 4, b"z", [score(1.0, b"a"), score(-2.5, b"b")]),
]
write("snapshot_load", "all", b"\x01" + b"".join(SNAP) + FOOTER)
for i, r in enumerate(SNAP):
    write("snapshot_load", str(i), b"\x01" + r + FOOTER)


# rdb_restore: DUMP payloads of redis-server 7.0.15 (SET, RPUSH, SADD of
# integers and of strings, HSET, ZADD, XADD with a group), footers cut off:
# the first byte 1 makes the target add the footer and its checksum.
RDB = [
    "000568656c6c6f",
    "00c13930",
    "00c3094064016161e057000161610a",
    "1201020f0f00000003008161020101816202ff",
    "0b0e020000000300000001000200030000",
    "020201620161",
    "1012120000000400816602817602816e020501ff",
    "111414000000040081610283312e35048162020201ff",
    "130110000000000000000100000000000000011d1d0000000a0001010001010181660200010201000100018176"
    "020401ff010101010100000100",
]
for i, body in enumerate(RDB):
    write("rdb_restore", str(i), b"\x01" + bytes.fromhex(body))
