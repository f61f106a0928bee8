"""Loading the library and mirroring the header."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import textwrap
import unittest

import onhandpub
from onhandpub import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER_PATH = os.path.join(
    os.environ.get("OHP_SOURCE_ROOT", os.path.join(HERE, "..", "..", "..")),
    "include", "onhandpub.h")


def header_text() -> str:
    with open(HEADER_PATH, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return text


class LoadingTest(unittest.TestCase):
    def test_version(self) -> None:
        self.assertEqual(onhandpub.library_version_number() // 10000, 1)
        self.assertRegex(onhandpub.library_version(), r"^1\.\d+\.\d+$")

    def test_env_variable_first(self) -> None:
        env = os.environ.get("OHP_LIBRARY")
        if not env:
            self.skipTest("OHP_LIBRARY not set")
        self.assertEqual(onhandpub.library_path, env)

    def test_import_error_lists_every_place(self) -> None:
        code = textwrap.dedent("""
            import ctypes, ctypes.util
            def fail(name, *a, **k):
                raise OSError(name + ": cannot open shared object file")
            ctypes.CDLL = fail
            ctypes.util.find_library = lambda name: "libonhandpub.so.9"
            try:
                import onhandpub
            except ImportError as e:
                print(e)
            else:
                print("loaded")
        """)
        env = dict(os.environ, OHP_LIBRARY="/nonexistent/libonhandpub.so.1")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout
        self.assertIn("could not be loaded", out)
        self.assertIn("OHP_LIBRARY=/nonexistent/libonhandpub.so.1", out)
        self.assertIn("soname libonhandpub.so.1", out)
        self.assertIn("find_library('onhandpub') = libonhandpub.so.9", out)

    def test_import_error_on_wrong_major(self) -> None:
        code = textwrap.dedent("""
            import ctypes
            real = ctypes.CDLL
            class Fake:
                def __init__(self, name):
                    self._lib = real(name)
                def __getattr__(self, name):
                    fn = getattr(self._lib, name)
                    if name == "ohp_version_number":
                        f = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 20000)
                        return f
                    return fn
            ctypes.CDLL = Fake
            try:
                import onhandpub
            except ImportError as e:
                print(e)
        """)
        out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ),
                             capture_output=True, text=True, check=True).stdout
        self.assertIn("needs major version 1", out)

    def test_every_function_declared(self) -> None:
        if not os.path.exists(HEADER_PATH):
            self.skipTest("header not found")
        text = header_text()
        declared = set(re.findall(r"\b(ohp_[a-z0-9_]+)\s*\(", text))
        # Callback typedefs look like "(*ohp_x_fn)(": not functions.
        typedefs = set(re.findall(r"\(\*\s*(ohp_[a-z0-9_]+)\)", text))
        functions = declared - typedefs
        self.assertEqual(functions, set(_lib.FUNCTIONS))

    def test_struct_fields_mirror_header(self) -> None:
        if not os.path.exists(HEADER_PATH):
            self.skipTest("header not found")
        text = header_text()
        structs = {
            "ohp_allocator": _lib.ohp_allocator,
            "ohp_lookup_value": _lib.ohp_lookup_value,
            "ohp_serial": _lib.ohp_serial,
            "ohp_record": _lib.ohp_record,
            "ohp_params": _lib.ohp_params,
            "ohp_source_query": _lib.ohp_source_query,
            "ohp_rejection": _lib.ohp_rejection,
            "ohp_summary": _lib.ohp_summary,
            "ohp_snapshot_record": _lib.ohp_snapshot_record,
            "ohp_snapshot_info": _lib.ohp_snapshot_info,
            "ohp_reconcile_options": _lib.ohp_reconcile_options,
            "ohp_discrepancy": _lib.ohp_discrepancy,
            "ohp_reconcile_summary": _lib.ohp_reconcile_summary,
        }
        ctypes_of = {
            "unsigned int": ctypes.c_uint, "int": ctypes.c_int, "int64_t": ctypes.c_int64,
            "uint64_t": ctypes.c_uint64, "uint32_t": ctypes.c_uint32, "size_t": ctypes.c_size_t,
            "const char *": ctypes.c_char_p, "void *": ctypes.c_void_p,
        }
        for name, cls in structs.items():
            m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), text, re.S)
            self.assertIsNotNone(m, name)
            fields = []
            for decl in m.group(1).split(";"):
                decl = " ".join(decl.split())
                if not decl:
                    continue
                fm = re.match(r"(.*?)\(\*(\w+)\)\(.*\)$", decl)
                if fm:  # function pointer
                    fields.append((fm.group(2), None))
                    continue
                fm = re.match(r"(.*?)(\w+)$", decl)
                fields.append((fm.group(2), fm.group(1).strip().replace("* ", "*")
                               .replace(" *", " *")))
            py = [(f[0].rstrip("_"), f[1]) for f in cls._fields_]
            self.assertEqual([f[0] for f in fields], [p[0] for p in py], name)
            for (fname, ctype), (_, pytype) in zip(fields, py):
                if ctype is None:
                    continue
                expected = ctypes_of.get(ctype)
                if expected is not None:
                    self.assertIs(pytype, expected, f"{name}.{fname}: {ctype}")
                elif ctype.endswith("*"):
                    self.assertTrue(issubclass(pytype, ctypes._Pointer), f"{name}.{fname}")
                else:
                    self.fail(f"{name}.{fname}: unexpected C type {ctype!r}")

    def test_error_codes_mirror_header(self) -> None:
        if not os.path.exists(HEADER_PATH):
            self.skipTest("header not found")
        codes = dict(re.findall(r"\b(OHP_E[A-Z]+|OHP_OK)\s*=\s*(-?\d+)", header_text()))
        for name, value in codes.items():
            self.assertEqual(getattr(_lib, name), int(value), name)
        for value in codes.values():
            if int(value) < 0:
                self.assertIn(int(value), onhandpub.errors.ERROR_CLASSES)

    def test_enums_mirror_header(self) -> None:
        if not os.path.exists(HEADER_PATH):
            self.skipTest("header not found")
        text = header_text()
        for prefix, enum in (("OHP_RULE_", onhandpub.Rule), ("OHP_STATUS_", onhandpub.Status),
                             ("OHP_ITEMS_", onhandpub.Items), ("OHP_MODE_", onhandpub.Mode),
                             ("OHP_ON_ERROR_", onhandpub.OnError),
                             ("OHP_DISC_", onhandpub.DiscrepancyKind),
                             ("OHP_SIDE_", onhandpub.Side)):
            found = dict(re.findall(r"\b%s([A-Z_0-9]+)\s*=\s*(\d+)" % prefix, text))
            self.assertEqual({k: int(v) for k, v in found.items()},
                             {m.name: int(m) for m in enum}, prefix)

    def test_strerror(self) -> None:
        self.assertNotEqual(onhandpub.strerror(-1), "")
        self.assertEqual(onhandpub.strerror(-999), "unknown error")


if __name__ == "__main__":
    unittest.main()
