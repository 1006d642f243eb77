#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/seed-*.

Deterministic (gzip mtime 0, fixed tar mtimes), so re-running it rewrites the
same bytes. Run from anywhere: `python3 fuzz/make_seeds.py`. Files the
fuzzer adds during local runs are not named `seed-*` and are left alone.
"""

import gzip
import io
import json
import os
import struct
import tarfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def gz(data, level=9):
    return gzip.compress(data, compresslevel=level, mtime=0)


# ------------------------------------------------------------------ tar


def manifest(name="foo", version="1.0.0", extra=""):
    return (
        f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'
        f'description = "A crate."\nlicense = "MIT"\nreadme = "README.md"\n{extra}'
    ).encode()


def tar_of(entries, fmt=tarfile.GNU_FORMAT, end=True):
    """entries: (path, data or None for a directory, tarinfo tweak or None).
    Without `end`, the archive stops after the last entry (no end-of-archive
    blocks), so raw entries can be appended."""
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=fmt)
    if True:
        for path, data, tweak in entries:
            info = tarfile.TarInfo(path)
            info.mtime = 1_700_000_000
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                if tweak:
                    tweak(info)
                if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                    t.addfile(info, io.BytesIO(data))
                else:
                    info.size = 0
                    t.addfile(info)
    if not end:
        return buf.getvalue()
    t.close()
    return buf.getvalue()


def raw_header(name, typeflag=b"0", size=0, prefix=b"", size_field=None, gnu=False):
    """A ustar header with unchecked name bytes."""
    h = bytearray(512)
    h[0 : len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1_700_000_000
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    if gnu:
        h[257:265] = b"ustar  \0"
    else:
        h[257:263] = b"ustar\0"
        h[263:265] = b"00"
    h[345 : 345 + len(prefix)] = prefix
    cksum = sum(h)
    h[148:156] = b"%06o\0 " % cksum
    return bytes(h)


def raw_entry(name, data=b"", typeflag=b"0", **kw):
    pad = (-len(data)) % 512
    return raw_header(name, typeflag, len(data), **kw) + data + b"\0" * pad


END = b"\0" * 1024


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while n != len(body) + len(str(n)):
        n = len(body) + len(str(n))
    return str(n).encode() + body


README = b"# foo\n\nA crate.\n"
LIB = b"pub fn f() {}\n"


def base(name="foo", version="1.0.0"):
    root = f"{name}-{version}"
    return [
        (f"{root}/Cargo.toml", manifest(name, version), None),
        (f"{root}/src/lib.rs", LIB, None),
        (f"{root}/README.md", README, None),
    ]


def crate_seeds():
    t = "crate_tarball"
    good = tar_of(base())
    write(t, "good", gz(good))
    write(t, "good-pax", gz(tar_of(base(), fmt=tarfile.PAX_FORMAT)))
    write(t, "good-ustar", gz(tar_of(base(), fmt=tarfile.USTAR_FORMAT)))
    write(t, "good-fast", gz(good, level=1))
    write(t, "good-stored", gz(good, level=0))
    write(
        t,
        "good-dirs-longname",
        gz(
            tar_of(
                [("foo-1.0.0", None, None), ("foo-1.0.0/src", None, None)]
                + base()
                + [("foo-1.0.0/" + "d" * 150 + "/lib.rs", b"x", None)]
            )
        ),
    )
    # A cargo-like package: Cargo.toml.orig, .cargo_vcs_info.json, Cargo.lock.
    write(
        t,
        "good-cargo-like",
        gz(
            tar_of(
                [
                    ("foo-1.0.0/.cargo_vcs_info.json", b'{"git":{"sha1":"00"},"path_in_vcs":""}\n', None),
                    ("foo-1.0.0/Cargo.lock", b"version = 4\n", None),
                    ("foo-1.0.0/Cargo.toml", manifest(extra='\n[dependencies]\nserde = "1"\n'), None),
                    ("foo-1.0.0/Cargo.toml.orig", manifest(), None),
                    ("foo-1.0.0/README.md", README, None),
                    ("foo-1.0.0/src/lib.rs", LIB, None),
                ]
            )
        ),
    )
    # README elsewhere, chosen by the length-prefixed path form.
    docs = gz(tar_of(base() + [("foo-1.0.0/docs/GUIDE.md", b"guide \xff", None)]))
    write(t, "readme-docs", bytes([len(b"docs/GUIDE.md")]) + b"docs/GUIDE.md" + docs)
    write(t, "readme-dot", bytes([len(b"./README.md")]) + b"./README.md" + gz(good))
    write(t, "readme-dotdot", bytes([len(b"docs/../README.md")]) + b"docs/../README.md" + docs)
    write(t, "readme-none", b"\x00" + gz(good))
    write(t, "readme-dir", bytes([3]) + b"src" + gz(good))
    # Global PAX header first (git archive writes one).
    glob = raw_entry(b"pax_global_header", pax_record(b"comment", b"0" * 40), typeflag=b"g")
    write(t, "global-pax", gz(glob + tar_of(base())))
    # PAX path override and a PAX size override.
    pax = pax_record(b"path", b"foo-1.0.0/src/other.rs")
    write(t, "pax-path", gz(raw_entry(b"PaxHeaders/x", pax, typeflag=b"x") + raw_entry(b"placeholder", b"x") + tar_of(base())))
    pax = pax_record(b"path", b"../escape")
    write(t, "pax-path-escape", gz(tar_of(base(), end=False) + raw_entry(b"PaxHeaders/x", pax, typeflag=b"x") + raw_entry(b"foo-1.0.0/ok", b"x") + END))
    pax = pax_record(b"size", b"99999999999")
    write(t, "pax-size-lie", gz(raw_entry(b"PaxHeaders/x", pax, typeflag=b"x") + tar_of(base())))
    # GNU long name record ('L').
    long = b"foo-1.0.0/" + b"L" * 200 + b"\0"
    write(t, "gnu-longname", gz(raw_entry(b"././@LongLink", long, typeflag=b"L") + raw_entry(b"x", b"data") + tar_of(base())))
    # Header records past the bounds (the fuzz target's are small): a long
    # name, a long link and a PAX header each claiming 1 GiB and carrying a
    # few KiB, an oversized global PAX header, a PAX path longer than any
    # allowed and a GNU long name with a component no file system stores.
    some = b"a" * 8192
    for kind, flag in (("longname", b"L"), ("longlink", b"K"), ("pax", b"x")):
        bomb = raw_header(b"././@LongLink", flag, 1 << 30) + some
        write(t, "header-bomb-" + kind, gz(tar_of(base(), end=False) + bomb))
    glob = raw_entry(b"pax_global_header", pax_record(b"comment", b"g" * 8192), typeflag=b"g")
    write(t, "header-bomb-global-pax", gz(glob + tar_of(base())))
    pax = pax_record(b"path", b"foo-1.0.0/" + b"/".join([b"p" * 200] * 6))
    write(t, "path-too-long", gz(raw_entry(b"PaxHeaders/x", pax, typeflag=b"x") + raw_entry(b"placeholder", b"x") + tar_of(base())))
    long = b"foo-1.0.0/" + b"c" * 256 + b"\0"
    write(t, "component-too-long", gz(raw_entry(b"././@LongLink", long, typeflag=b"L") + raw_entry(b"x", b"data") + tar_of(base())))
    # ustar prefix field.
    body = tar_of(base(), end=False)
    write(t, "ustar-prefix", gz(body + raw_entry(b"lib2.rs", LIB, prefix=b"foo-1.0.0/src") + END))

    # Hostile entries, each appended to an otherwise good archive.
    hostile = {
        "symlink": raw_entry(b"foo-1.0.0/link", typeflag=b"2"),
        "hardlink": raw_entry(b"foo-1.0.0/hard", typeflag=b"1"),
        "chardev": raw_entry(b"foo-1.0.0/dev", typeflag=b"3"),
        "fifo": raw_entry(b"foo-1.0.0/fifo", typeflag=b"6"),
        "sparse": raw_entry(b"foo-1.0.0/sparse", typeflag=b"S"),
        "typeflag-z": raw_entry(b"foo-1.0.0/z", typeflag=b"Z"),
        "dotdot": raw_entry(b"foo-1.0.0/../x", b"x"),
        "absolute": raw_entry(b"/etc/passwd", b"x"),
        "other-root": raw_entry(b"other-1.0.0/x", b"x"),
        "root-prefix": raw_entry(b"foo-1.0.0x/y", b"x"),
        "backslash": raw_entry(b"foo-1.0.0\\..\\x", b"x"),
        "dot": raw_entry(b"foo-1.0.0/./x", b"x"),
        "empty-component": raw_entry(b"foo-1.0.0//x", b"x"),
        "not-utf8": raw_entry(b"foo-1.0.0/\xff\xfe", b"x"),
        "control-chars": raw_entry(b"foo-1.0.0/\x1b[31mred\n", b"x"),
        "duplicate": raw_entry(b"foo-1.0.0/src/lib.rs", b"again"),
        "dir-file-collision": raw_entry(b"foo-1.0.0/README.md/", typeflag=b"5"),
        "sparse-gnu": raw_entry(b"foo-1.0.0/sparse", typeflag=b"S", gnu=True),
        "root-as-file": raw_entry(b"foo-1.0.0", b"x"),
        "trailing-slash-regular": raw_entry(b"foo-1.0.0/olddir/", b""),
        "bad-size-field": raw_header(b"foo-1.0.0/x", size_field=b"zzzzzzzzzzz\0"),
        "base256-size": raw_header(b"foo-1.0.0/x", size_field=b"\x80" + b"\0" * 3 + b"\xff" * 8),
    }
    body = tar_of(base(), end=False)
    for name, entry in hostile.items():
        write(t, "hostile-" + name, gz(body + entry + END))
    # Truncated entry data, truncated gzip, trailing data.
    write(t, "truncated-entry", gz(body + raw_header(b"foo-1.0.0/big", size=5000) + b"x" * 100))
    write(t, "truncated-gzip", gz(good)[:-20])
    write(t, "trailing-gzip-data", gz(good) + b"junk")
    write(t, "trailing-gzip-member", gz(good) + gz(b"more"))
    write(t, "trailing-tar-data", gz(good + b"not zero padding"))
    write(t, "trailing-zero-padding", gz(good + b"\0" * 10240))
    write(t, "bad-gzip-crc", gz(good)[:-8] + b"\0\0\0\0" + gz(good)[-4:])
    write(t, "not-gzip", good[:2048])
    write(t, "empty-gzip", gz(b""))
    write(t, "only-end", gz(END))
    # Limits: a bomb, too many entries, large manifest and README.
    write(t, "bomb", gz(body + raw_entry(b"foo-1.0.0/zeros", b"\0" * (300 * 1024)) + END))
    many = base() + [(f"foo-1.0.0/f{i}", b"", None) for i in range(70)]
    write(t, "many-entries", gz(tar_of(many)))
    big = base()
    big[0] = ("foo-1.0.0/Cargo.toml", manifest() + b"#" * (20 * 1024), None)
    write(t, "manifest-too-large", gz(tar_of(big)))
    big = base()
    big[2] = ("foo-1.0.0/README.md", b"r" * (20 * 1024), None)
    write(t, "readme-too-large", gz(tar_of(big)))
    # Manifest problems.
    manifest_seeds(t)
    raw_tar_variants(t)


def raw_tar_variants(t):
    """The same archives in the raw-tar form (flag byte 0x80 | len, README
    path, tar bytes; the harness gzips them) so mutations hit tar headers."""
    d = os.path.join(CORPUS, t)
    for f in sorted(os.listdir(d)):
        if not f.startswith("seed-") or f.startswith("seed-raw-"):
            continue
        data = open(os.path.join(d, f), "rb").read()
        if not data.startswith(b"\x1f"):
            continue
        z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            tar = z.decompress(data)
        except zlib.error:
            continue
        if not z.eof or z.unused_data:
            continue
        if f != "seed-trailing-zero-padding":
            # Drop tarfile's padding to 10 KiB records: keep the entries and
            # one end-of-archive marker.
            tar = tar.rstrip(b"\0")
            tar += b"\0" * ((-len(tar)) % 512) + END
        if len(tar) > 32 * 1024:
            continue
        write(t, "raw-" + f[len("seed-"):], bytes([0x80 | 9]) + b"README.md" + tar)
    tar = tar_of(base(), end=False) + END
    write(t, "raw-no-readme", b"\x80" + tar)
    write(t, "raw-readme-dotdot", bytes([0x80 | 12]) + b"../README.md" + tar)


def manifest_seeds(t):
    for name, m in {
        "manifest-missing": None,
        "manifest-name-mismatch": manifest("bar"),
        "manifest-version-mismatch": manifest(version="1.0.1"),
        "manifest-invalid-toml": b"[package\nname = ",
        "manifest-not-utf8": b"[package]\nname = \"\xff\"\n",
        "manifest-no-package": b"name = \"foo\"\nversion = \"1.0.0\"\n",
        "manifest-version-int": b"[package]\nname = \"foo\"\nversion = 1\n",
        "manifest-inline": b'package = { name = "foo", version = "1.0.0" }\n',
        "manifest-escapes": b'[package]\nname = "f\\u006fo"\nversion = \'1.0.0\'\n',
        "manifest-deep": b"[package]\nname = \"foo\"\nversion = \"1.0.0\"\nx = " + b"[" * 200 + b"]" * 200 + b"\n",
    }.items():
        entries = base()
        if m is None:
            del entries[0]
        else:
            entries[0] = ("foo-1.0.0/Cargo.toml", m, None)
        write(t, name, gz(tar_of(entries)))


# ------------------------------------------------------------ publish body


def body(meta, krate):
    return struct.pack("<I", len(meta)) + meta + struct.pack("<I", len(krate)) + krate


def meta_min(name="foo", vers="1.0.0"):
    # As in crates/berth/tests/bad_input.rs: what cargo sends, minimal.
    return {
        "name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
        "description": None, "documentation": None, "homepage": None, "readme": None,
        "readme_file": None, "keywords": [], "categories": [], "license": "MIT",
        "license_file": None, "repository": None, "badges": {}, "links": None,
        "rust_version": None,
    }


def meta_full():
    return {
        "name": "Foo-Bar", "vers": "1.2.3-rc.1+build.5",
        "deps": [
            {"optional": False, "default_features": True, "name": "serde",
             "features": ["derive"], "version_req": "^1.0.190", "target": None,
             "kind": "normal", "registry": None, "explicit_name_in_toml": None},
            {"optional": True, "default_features": False, "name": "tokio",
             "features": ["rt", "macros"], "version_req": ">=1.30, <2",
             "target": "cfg(unix)", "kind": "normal", "registry": None,
             "explicit_name_in_toml": "tk"},
            {"optional": False, "default_features": True, "name": "cc",
             "features": [], "version_req": "~1.0", "target": None, "kind": "build",
             "registry": None, "explicit_name_in_toml": None},
            {"optional": False, "default_features": True, "name": "other",
             "features": [], "version_req": "=0.1.0", "target": None, "kind": "dev",
             "registry": "sparse+https://other.example/index/",
             "explicit_name_in_toml": None},
            {"optional": False, "default_features": True, "name": "std",
             "features": [], "version_req": "1", "target": "x86_64-pc-windows-msvc",
             "kind": "normal", "registry": "https://git.example/upstream-index",
             "explicit_name_in_toml": None},
        ],
        "features": {"default": ["std"], "std": [], "async": ["dep:tokio", "tk?/rt"],
                     "full": ["async", "serde/derive"], "x.y+z": []},
        "authors": ["Jane <jane@example.com>"],
        "description": "Fuzz seed \u00e9\u4e2d\U0001f600",
        "documentation": "https://docs.rs/foo", "homepage": "https://example.com",
        "readme": "# Foo\n\n" + "text " * 20, "readme_file": "README.md",
        "keywords": ["fuzz", "a-b", "c_d", "e+f", "0x"], "categories": ["development-tools"],
        "license": "MIT OR Apache-2.0", "license_file": None,
        "repository": "https://example.com/foo.git",
        "badges": {"maintenance": {"status": "actively-developed"}},
        "links": "foo_sys", "rust_version": "1.70",
    }


def dumps(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


def body_seeds():
    t = "publish_body"
    krate = gz(tar_of(base()))
    write(t, "valid-real", body(dumps(meta_min()), krate))
    write(t, "valid-small", body(b"{}", b"crate"))
    write(t, "empty-parts", b"\0" * 8)
    write(t, "empty", b"")
    write(t, "short-len", b"\x02\x00")
    write(t, "truncated-meta", body(b"{}", b"crate")[:5])
    write(t, "truncated-crate", body(b"{}", b"crate")[:-1])
    write(t, "missing-crate-len", struct.pack("<I", 2) + b"{}" + b"\x05\x00")
    write(t, "huge-meta-len", b"\xff\xff\xff\xff{}")
    write(t, "huge-crate-len", struct.pack("<I", 2) + b"{}" + b"\xff\xff\xff\xff" + b"x")
    write(t, "meta-over-1024", body(b" " * 1025, b"c"))
    write(t, "crate-over-16", body(b"{}", b"c" * 17))
    write(t, "trailing", body(b"{}", b"crate") + b"\0")
    write(t, "trailing-body", body(b"{}", b"crate") + body(b"{}", b"crate"))


def metadata_seeds():
    t = "publish_metadata"
    write(t, "minimal-cargo", dumps(meta_min()))
    write(t, "full", json.dumps(meta_full(), indent=2).encode())
    write(t, "full-ascii", json.dumps(meta_full()).encode())
    write(t, "name-vers-only", b'{"name":"a","vers":"0.0.0"}')
    write(t, "leading-ws", b' \n\t{"name":"abc","vers":"1.0.0+x"}')
    write(t, "array", b'["foo","1.0.0"]')
    write(t, "not-json", b"{")
    write(t, "deep-array", b'{"name":"foo","vers":"1.0.0","badges":' + b"[" * 200 + b"]" * 200 + b"}")
    write(t, "deep-127", b'{"name":"foo","vers":"1.0.0","badges":' + b"[" * 126 + b"]" * 126 + b"}")
    write(t, "deep-object", b'{"name":"foo","vers":"1.0.0","badges":' + b'{"a":' * 100 + b"1" + b"}" * 100 + b"}")
    write(t, "dup-keys", b'{"name":"foo","name":"bar","vers":"1.0.0"}')
    write(t, "escapes", b'{"name":"f\\u006fo","vers":"1.0.0","description":"\\ud83d\\ude00 \\u0000 \\n"}')
    write(t, "lone-surrogate", b'{"name":"foo","vers":"1.0.0","description":"\\ud800"}')
    write(t, "big-numbers", b'{"name":"foo","vers":"1.0.0","badges":[1e999,-0,18446744073709551616,1.5e-400]}')
    m = meta_min()
    m["features"] = {"a": ["b"], "b": ["c"], "c": ["dep:x"], "d": ["x?/y"], "e": [], "f": ["a", "e"]}
    write(t, "features-chain", dumps(m))
    m = meta_min()
    m["deps"] = [{"name": "bar", "version_req": "*"}]
    write(t, "wildcard-dep", dumps(m))
    m["deps"] = [{"name": "bar", "version_req": "^1", "kind": "dev"},
                 {"name": "bar", "version_req": "^1", "kind": "normal"},
                 {"name": "Bar", "version_req": "<2, >=1", "kind": "build", "features": ["x"]}]
    write(t, "dup-deps", dumps(m))
    m["deps"] = [{"name": "bar", "version_req": "^1", "kind": "weird"}]
    write(t, "bad-kind", dumps(m))
    for key, value in {
        "reserved": ("name", "Nul"),
        "bad-version": ("vers", "1.0"),
        "long-version": ("vers", "1.0.0-" + "a" * 200),
        "bad-rust-version": ("rust_version", "1.70.0.1"),
        "bad-links": ("links", "a/b"),
        "many-keywords": ("keywords", ["a", "b", "c", "d", "e", "f"]),
        "bad-keyword": ("keywords", ["-x"]),
        "feature-name": ("features", {"a/b": []}),
        "long-description": ("description", "d" * 10001),
    }.items():
        m = meta_min()
        m[value[0]] = value[1]
        write(t, key, dumps(m))
    # A stored index line (exercises IndexEntry::from_line directly).
    write(t, "index-line", b'{"name":"Foo-Bar","vers":"1.0.0+build","deps":[{"name":"abc","req":"^0.1","features":[],"optional":false,"default_features":true,"target":null,"kind":"build"},{"name":"z","req":"^1","features":["x"],"optional":true,"default_features":false,"target":"cfg(unix)","kind":"normal","package":"zed"}],"cksum":"abcd","features":{"default":["std"],"std":[]},"features2":{"serde":["dep:zed"]},"yanked":false,"links":"foo","rust_version":"1.70","pubtime":"2026-01-02T03:04:05Z","v":2}')


def names_seeds():
    t = "names_and_paths"
    seeds = {
        "serde": "serde", "mixed": "Foo-Bar_2", "one": "a", "two": "ab", "three": "abc",
        "four": "abcd", "path4": "se/rd/serde", "path3": "/3/a/abc", "path-upper": "SE/RD/Serde",
        "path1": "1/a", "path2": "2/ab", "path-wrong": "xx/rd/serde", "path-dotdot": "se/rd/../serde",
        "config-json": "config.json", "max-len": "a" * 64, "too-long": "a" * 65,
        "unicode": "caf\u00e9", "unicode-index": "a\u00e9bc", "reserved": "Proc-Macro",
        "reserved-dollar": "conin$", "digit-start": "1abc", "dash-start": "-abc",
        "lines": "1/a\n2/ab\n3/a/abc\nfo/o-/foo-bar\nFoo-Bar\n1.0.0+x",
        "version": "1.0.0", "version-full": "1.0.0-rc.1+build.5",
        "version-zero": "0.0.0-0+0", "version-leading-zero": "01.0.0",
        "version-long": "1.0.0-" + "a." * 70 + "b", "version-build-only": "1.2.3+abc.def",
        "version-max": "18446744073709551615.18446744073709551615.18446744073709551615",
        "version-overflow": "18446744073709551616.0.0",
        "empty": "", "slashes": "///", "ws": " serde ",
    }
    for name, s in seeds.items():
        write(t, name, s)


def config_seeds():
    t = "config_toml"
    write(t, "empty", "")
    write(t, "listen", 'listen = "127.0.0.1:9000"\n')
    write(t, "full", '''data_dir = "/var/lib/berth"
listen = "0.0.0.0:7878"
public_url = "https://crates.example.internal/"

[database]
url = "postgres://berth:secret@db/berth"
max_connections = 16

[storage]
url = "s3://bucket/prefix"

[limits]
max_crate_size = 10485760
max_metadata_size = 10485760
max_unpacked_size = 536870912
max_crate_entries = 50000
request_timeout_secs = 300
max_concurrent_publishes = 8
index_cache_bytes = 67108864
blob_cache_bytes = 0

[publish]
allowed_registries = ["sparse+https://upstream.example/index/", "https://git.example/upstream-index"]

[log]
level = "berth=debug,tower_http=info"
format = "json"

[[registries]]
name = "main"

[[registries]]
name = "corp"
kind = "hosted"
private = true
''')
    write(t, "ipv6", 'listen = "[::1]:7878"\ndata_dir = "rel/dir"\n')
    write(t, "unspecified", 'listen = "0.0.0.0:7878"\n')
    write(t, "unknown-key", '[limits]\nmax_crate_sise = 1\n')
    write(t, "bad-limits", '[limits]\nmax_metadata_size = 0\nmax_crate_size = 99999999999\n')
    write(t, "int-max", '[limits]\nmax_unpacked_size = 9223372036854775807\nindex_cache_bytes = -1\n')
    write(t, "dup-registry", '[[registries]]\nname = "a"\n[[registries]]\nname = "a"\n')
    write(t, "bad-registry", '[[registries]]\nname = "a/b"\nkind = "proxy"\n')
    write(t, "inline", 'registries = [{name = "x", private = true}]\nlog = {format = "xml"}\n')
    write(t, "dotted", 'limits.max_crate_size = 1\ndatabase.url = ""\nstorage.url = "file:///x"\n')
    write(t, "public-url-slashes", 'public_url = "http://x///"\n')
    write(t, "public-url-bad", 'public_url = "ftp://x"\n')
    write(t, "empty-data-dir", 'data_dir = ""\n')
    write(t, "strings", 'listen = """\n127.0.0.1:1"""\npublic_url = \'http://\u00e9\\t\'\n')
    write(t, "wrong-types", 'listen = 7878\nregistries = "main"\n')
    write(t, "not-toml", '[limits\nx = ')


def auth_seeds():
    t = "auth_header"
    seeds = {
        "raw-token": "berth_0123456789abcdefghijABCDEFGHIJ0123456789",
        "bearer": "Bearer berth_abc",
        "bearer-spaces": "  Bearer   berth_abc  ",
        "bearer-only": "Bearer",
        "bearer-empty": "Bearer ",
        "bearer-lower": "bearer abc",
        "bearer-twice": "Bearer Bearer x",
        "unicode-ws": "\u3000Bearer\u00a0x\u2003",
        "all-scopes": "read,publish-new,publish-update,yank,change-owners",
        "scopes-spaces": " yank , ,publish-new ",
        "scope-unknown": "fly",
        "scope-empty": "",
        "role-admin": "admin",
        "role-publish": "publish",
    }
    for name, s in seeds.items():
        write(t, name, s)


ADVISORY = """```toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "fuzzed"
date = "2099-01-01"
url = "https://example.invalid/advisory"
informational = "unsound"

[versions]
patched = [">= 1.2.3, < 1.3", ">= 1.3.1"]
unaffected = ["< 1.0"]
```

# A made-up advisory for the fuzzer

Nothing real.
"""

OSV = json.dumps({
    "id": "OSV-2099-0001", "modified": "2099-01-01T00:00:00Z", "summary": "made up",
    "affected": [{"package": {"ecosystem": "x", "name": "fuzzed"},
                  "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]}],
})


def advisory_seeds():
    """advisory_archive: a database checkout's layout as a raw tar (first
    byte 0x00: the harness gzips it), a .tar.gz and a .zip."""
    t = "advisory_archive"
    members = [
        ("advisory-db/crates/fuzzed/RUSTSEC-2099-0001.md", ADVISORY.encode()),
        ("advisory-db/osv/OSV-2099-0001.json", OSV.encode()),
    ]
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tf.addfile(info, io.BytesIO(data))
    raw = b.getvalue()
    write(t, "raw-tar", b"\x00" + raw)
    write(t, "tar-gz", gzip.compress(raw, mtime=0))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    write(t, "zip", z.getvalue())


def note_seeds():
    """Checkpoints, notes, keys and records of the transparency log, made
    here (arbitrary key bytes: the target checks forms, not signatures)."""
    import base64
    t = "signed_note"
    root = base64.b64encode(bytes(range(32))).decode()
    body = f"berth.example/r/main\n42\n{root}\n"
    write(t, "checkpoint", body)
    sig = base64.b64encode(bytes.fromhex("0a0b0c0d") + bytes(64)).decode()
    write(t, "note", f"{body}\n\u2014 berth.example+0a0b0c0d+{sig}\n")
    write(t, "note-two-sigs", f"{body}\n\u2014 a+0a0b0c0d+{sig}\n\u2014 b+0a0b0c0d+{sig}\n")
    key = base64.b64encode(b"\x01" + bytes(range(32))).decode()
    write(t, "verifier-key", f"berth.example+0a0b0c0d+{key}")
    write(t, "record", "berth-record/1 main serde 1.0.0 " + "ab" * 32 + " 2026-12-06T17:00:00Z\n")


if __name__ == "__main__":
    crate_seeds()
    body_seeds()
    metadata_seeds()
    names_seeds()
    config_seeds()
    auth_seeds()
    advisory_seeds()
    note_seeds()
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        print(f"{target}: {len(files)} files, {size} bytes")
