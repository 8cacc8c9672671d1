#!/usr/bin/env python3
# Regenerates the seed corpus of fuzz_safetensors (tests/fuzz/corpus/safetensors/): the golden
# layouts of the format plus one mutant per validation check (../shared/ecosystem.md 1.3).
# Usage: python3 tests/fuzz/make_seeds_safetensors.py   (from the repository root)
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")


def st(header, data=b"", pad=True, n=None):
    h = header.encode() if isinstance(header, str) else header
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + data


f32 = lambda *xs: struct.pack("<%df" % len(xs), *xs)
E = '"dtype":"%s","shape":%s,"data_offsets":[%d,%d]'

seeds = {
    # valid
    "ok_empty": st("{}"),
    "ok_meta": st('{"__metadata__":{"framework":"pt"}}'),
    "ok_attn0": st('{"attn.0":{%s}}' % (E % ("F32", "[1,2,3]", 0, 24)), f32(0, 1, 2, 3, 4, 5), pad=False),
    "ok_attn0_4d": st('{"attn0":{%s}}' % (E % ("F32", "[1,1,2,3]", 0, 24)), f32(0, 1, 2, 3, 4, 5)),
    "ok_mixed": st('{"__metadata__":{"format":"pt"},"a":{%s},"b":{%s},"c":{%s},"d":{%s}}'
                   % (E % ("I64", "[2]", 0, 16), E % ("F32", "[]", 16, 20), E % ("BF16", "[0,3]", 20, 20),
                      E % ("U8", "[3]", 20, 23)), bytes(23)),
    "ok_unpadded_unsorted": st('{"b":{%s},\n\t"a":{%s,"x":[1,{}]}}' % (E % ("F32", "[1]", 0, 4), E % ("I8", "[3]", 4, 7)),
                               bytes(7), pad=False),
    "ok_escaped_name": st('{"a\\"b\\\\c\\u00e9\\n":{%s}}' % (E % ("F16", "[2]", 0, 4)), bytes(4)),
    "ok_gpt_like": st('{"__metadata__":{"format":"pt"},"h.0.ln_1.bias":{%s},"h.0.ln_1.weight":{%s},'
                      '"wte.weight":{%s}}' % (E % ("F32", "[4]", 0, 16), E % ("F32", "[4]", 16, 32),
                                              E % ("F32", "[3,4]", 32, 80)), bytes(80)),
    # refused
    "bad_short": b"\x08\x00\x00",
    "bad_len_beyond": struct.pack("<Q", 200) + b"{}",
    "bad_len_huge": struct.pack("<Q", 2**64 - 1) + b"{}      ",
    "bad_len_over_cap": struct.pack("<Q", 100000001) + b"{}      ",
    "bad_utf8": st(b'{"\xc0\xaf":1}'),
    "bad_surrogate": st(b'{"\xed\xa0\x80":1}'),
    "bad_start": st("[]"),
    "bad_trailing": st('{} x'),
    "bad_json": st('{"a":'),
    "bad_toplevel_dup": st('{"a":{%s},"a":{%s}}' % (E % ("F32", "[1]", 0, 4), E % ("F32", "[1]", 4, 8)), bytes(8)),
    "bad_entry_dup": st('{"a":{%s,"dtype":"F64"}}' % (E % ("F32", "[1]", 0, 4)), bytes(4)),
    "bad_meta_value": st('{"__metadata__":{"step":3}}'),
    "bad_meta_type": st('{"__metadata__":["a"]}'),
    "bad_dtype": st('{"a":{%s}}' % (E % ("F33", "[1]", 0, 4)), bytes(4)),
    "bad_missing_shape": st('{"a":{"dtype":"F32","data_offsets":[0,4]}}', bytes(4)),
    "bad_shape_neg": st('{"a":{%s}}' % (E % ("F32", "[-1]", 0, 4)), bytes(4)),
    "bad_shape_float": st('{"a":{%s}}' % (E % ("F32", "[1.5]", 0, 4)), bytes(4)),
    "bad_shape_big": st('{"a":{%s}}' % (E % ("U8", "[3000000000]", 0, 4)), bytes(4)),
    "bad_shape_2p53": st('{"a":{%s}}' % (E % ("U8", "[9007199254740993]", 0, 4)), bytes(4)),
    "bad_shape_overflow": st('{"a":{%s}}' % (E % ("F32", "[67108864,67108864,67108864]", 0, 4)), bytes(4)),
    "bad_offsets_three": st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', bytes(8)),
    "bad_offsets_reversed": st('{"a":{%s}}' % (E % ("F32", "[1]", 4, 0)), bytes(4)),
    "bad_size_mismatch": st('{"a":{%s}}' % (E % ("F32", "[2]", 0, 4)), bytes(4)),
    "bad_overlap": st('{"a":{%s},"b":{%s}}' % (E % ("F32", "[2]", 0, 8), E % ("F32", "[2]", 4, 12)), bytes(12)),
    "bad_alias": st('{"a":{%s},"b":{%s}}' % (E % ("F32", "[2]", 0, 8), E % ("F32", "[2]", 0, 8)), bytes(8)),
    "bad_gap": st('{"a":{%s},"b":{%s}}' % (E % ("F32", "[1]", 0, 4), E % ("F32", "[1]", 8, 12)), bytes(12)),
    "bad_trailing_data": st('{"a":{%s}}' % (E % ("F32", "[1]", 0, 4)), bytes(8)),
    "bad_out_of_bounds": st('{"a":{%s}}' % (E % ("F32", "[2]", 0, 8)), bytes(4)),
    "bad_nul_escape": st('{"x\\u0000y":{%s}}' % (E % ("F32", "[0]", 0, 0))),
    "bad_raw_nul": st(b'{"x\x00y":1}'),
    "bad_deep": st("{" + '"a":' * 1 + "[" * 2000 + "]" * 2000 + "}"),
}

os.makedirs(OUT, exist_ok=True)
for name, blob in sorted(seeds.items()):
    with open(os.path.join(OUT, name), "wb") as fh:
        fh.write(blob)
print("wrote %d seeds to %s" % (len(seeds), OUT))
