"""Each exception type, from the library's own refusals and failures."""

from __future__ import annotations

import unittest

import onhandpub
from onhandpub import Registry, Status
from onhandpub import errors as E

from .support import row, sample_rows


def publish(source=None, **kw):
    kw.setdefault("organization", "M1")
    kw.setdefault("snapshot_date", "2026-01-10T08:00:00Z")
    return onhandpub.publish(sample_rows() if source is None else source, **kw)


class ExceptionTypesTest(unittest.TestCase):
    def assert_refused(self, cm, cls, code):
        exc = cm.exception
        self.assertIs(type(exc), cls)
        self.assertIsInstance(exc, onhandpub.Refused)
        self.assertIsInstance(exc, onhandpub.OnhandpubError)
        self.assertEqual(exc.code, code)
        self.assertNotEqual(exc.message, "")
        self.assertEqual(str(exc), exc.message)
        if exc.summary is not None:
            self.assertIs(exc.summary.status, Status.REFUSED)
            self.assertIsNone(exc.summary.data)

    def test_invalid_argument(self) -> None:
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            publish(organization="", caller_authorized=True)
        self.assert_refused(cm, onhandpub.InvalidArgument, -1)
        self.assertIn("Organization", cm.exception.message)
        self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(onhandpub.InvalidArgument):
            publish(user="", caller_authorized=True)
        with self.assertRaises(onhandpub.InvalidArgument):
            publish(on_error="ignore", caller_authorized=True)
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            onhandpub.parse_date("2026/02/30")
        self.assertIn("2026/02/30", str(cm.exception))
        with self.assertRaises(onhandpub.InvalidArgument):
            onhandpub.parse_date("2026/01/01 24:00:00")
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            onhandpub.canonical_quantity("1.2.3")
        self.assertEqual(cm.exception.code, -11)  # OHP_EPARSE
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            Registry.from_psv("LOOKUP_CODE|MEANING\n\"unterminated\n")

    def test_not_found(self) -> None:
        with self.assertRaises(onhandpub.NotFound) as cm:
            publish(system="42", caller_authorized=True)
        self.assert_refused(cm, onhandpub.NotFound, -8)
        self.assertIn("42", cm.exception.message)

    def test_inactive(self) -> None:
        with Registry() as reg:
            reg.add("5", "off", enabled=False)
            reg.add("6", "ended", end_date="2025-12-31")
            for code in ("5", "6"):
                with self.assertRaises(onhandpub.Inactive) as cm:
                    publish(system=code, registry=reg, caller_authorized=True)
                self.assert_refused(cm, onhandpub.Inactive, -9)

    def test_already_exists(self) -> None:
        with Registry() as reg:
            with self.assertRaises(onhandpub.AlreadyExists) as cm:
                reg.add("0", "again")
            self.assert_refused(cm, onhandpub.AlreadyExists, -10)

    def test_not_authorized(self) -> None:
        with self.assertRaises(onhandpub.NotAuthorized) as cm:
            publish(user="SCOTT")
        self.assert_refused(cm, onhandpub.NotAuthorized, -12)
        self.assertIn("SCOTT", cm.exception.message)
        seen = []

        def deny(user, privilege):
            seen.append((user, privilege))
            return False

        with self.assertRaises(onhandpub.NotAuthorized) as cm:
            publish(user="SCOTT", authorizer=deny)
        self.assertIn(onhandpub.PRIVILEGE, cm.exception.message)
        self.assertEqual(seen, [("SCOTT", onhandpub.PRIVILEGE)])

        class Grants:
            def authorize(self, user, privilege):
                return user == "ADMIN" and privilege == onhandpub.PRIVILEGE

        self.assertTrue(publish(user="ADMIN", authorizer=Grants(), full=True).ok)
        with self.assertRaises(onhandpub.NotAuthorized):
            publish(user="SCOTT", authorizer=Grants())
        # The caller's own authorization skips the authorizer.
        self.assertTrue(publish(user="SCOTT", authorizer=deny, caller_authorized=True).ok)

    def test_record_error(self) -> None:
        with self.assertRaises(onhandpub.RecordError) as cm:
            publish([row(), row(primary_quantity="ten")], caller_authorized=True)
        exc = cm.exception
        self.assertEqual(exc.code, -4)
        self.assertIsInstance(exc, onhandpub.Failure)
        self.assertNotIsInstance(exc, onhandpub.Refused)
        self.assertIs(exc.rule, onhandpub.Rule.QUANTITY)
        self.assertEqual(exc.ordinal, 2)
        self.assertIn("record 2", exc.message)
        self.assertIs(exc.summary.status, Status.FAILED)

    def test_source_error(self) -> None:
        with self.assertRaises(onhandpub.SourceError) as cm:
            publish(b"", caller_authorized=True)
        self.assertEqual(cm.exception.code, -5)
        with self.assertRaises(onhandpub.SourceError) as cm:
            publish(b'ORGANIZATION_CODE|ITEM_NUMBER\n"unterminated|x\n', caller_authorized=True)

    def test_cancelled(self) -> None:
        with self.assertRaises(onhandpub.Cancelled) as cm:
            publish(caller_authorized=True, on_progress=lambda n: False)
        self.assertEqual(cm.exception.code, -14)
        self.assertIs(cm.exception.summary.status, Status.FAILED)

    def test_limit_error(self) -> None:
        with self.assertRaises(onhandpub.LimitError) as cm:
            onhandpub.canonical_quantity("1" * 41)
        self.assertEqual(cm.exception.code, -17)
        big = b"ORGANIZATION_CODE\n" + b"x" * (1024 * 1024 + 10) + b"\n"
        with self.assertRaises(onhandpub.SourceError) as cm:
            publish(big, caller_authorized=True)
        self.assertIn("line", cm.exception.message)

    def test_state_store_error_from_library(self) -> None:
        class ZeroIds:
            def next_run_id(self):
                return 0

        with self.assertRaises(onhandpub.StateStoreError) as cm:
            publish(caller_authorized=True, state=ZeroIds())
        self.assertIn("run id 0", cm.exception.message)

    def test_code_mapping(self) -> None:
        expected = {
            -1: onhandpub.InvalidArgument, -2: onhandpub.OutOfMemory,
            -3: onhandpub.InvalidState, -4: onhandpub.RecordError, -5: onhandpub.SourceError,
            -6: onhandpub.SinkError, -7: onhandpub.ArchiveError, -8: onhandpub.NotFound,
            -9: onhandpub.Inactive, -10: onhandpub.AlreadyExists, -11: onhandpub.InvalidArgument,
            -12: onhandpub.NotAuthorized, -13: onhandpub.StateStoreError,
            -14: onhandpub.Cancelled, -15: onhandpub.RejectCallbackError,
            -16: onhandpub.InvalidArgument, -17: onhandpub.LimitError,
            -18: onhandpub.AuthorizerError, -19: onhandpub.SourceError,
        }
        for code, cls in expected.items():
            exc = E.error_for(code, "")
            self.assertIs(type(exc), cls, code)
            self.assertEqual(exc.message, onhandpub.strerror(code))
            self.assertEqual(exc.code_name[:5], "OHP_E")
        refusals = {-1, -8, -9, -10, -11, -12, -16}
        for code in expected:
            self.assertEqual(isinstance(E.error_for(code), onhandpub.Refused), code in refusals)
        self.assertIsInstance(E.error_for(-2), MemoryError)
        self.assertIsInstance(E.error_for(-8), LookupError)
        self.assertIs(type(E.error_for(-99)), onhandpub.Failure)


if __name__ == "__main__":
    unittest.main()
