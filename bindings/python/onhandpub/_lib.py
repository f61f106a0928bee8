"""Loading of libonhandpub and the ctypes mirror of include/onhandpub.h.

Everything that depends on the C ABI lives in this module: the structure
layouts, the callback types, the error and enum values, and one table that
declares ``argtypes``/``restype`` of every exported function.  The rest of
the package only uses the names defined here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import List, Tuple

#: Environment variable naming the library file to load first.
LIBRARY_ENV = "OHP_LIBRARY"
#: The installed soname (frozen at 1).
SONAME = "libonhandpub.so.1"
#: The major version this binding speaks.
ABI_MAJOR = 1

# --------------------------------------------------------------------------
# Constants (mirroring the header's macros and enums)
# --------------------------------------------------------------------------

OHP_TIME_NONE = -(2**63)
OHP_DATE_BUFSIZE = 20
OHP_ALLOCATOR_VERSION = 1
OHP_LOOKUP_VALUE_VERSION = 1
OHP_RECORD_VERSION = 1
OHP_PARAMS_VERSION = 2
OHP_SOURCE_QUERY_VERSION = 2
OHP_REJECTION_VERSION = 1
OHP_SUMMARY_VERSION = 2
OHP_SNAPSHOT_RECORD_VERSION = 1
OHP_SNAPSHOT_INFO_VERSION = 1
OHP_MANIFEST_STRUCT_VERSION = 1
OHP_RECONCILE_OPTIONS_VERSION = 1
OHP_DISCREPANCY_VERSION = 1
OHP_RECONCILE_SUMMARY_VERSION = 2
OHP_IGNORE_REVISION = 1
OHP_IGNORE_LOCATOR = 2
OHP_IGNORE_LOT = 4
OHP_IGNORE_OWNER = 8
OHP_PRIVILEGE = "INV_PUBLISH_ONHAND_TO_EXT_SYSTEMS_PRIV"
OHP_LOOKUP_TYPE = "ORA_INV_BALANCES_INV_EXTERNAL"
OHP_SYSTEM_ORACLE_WMS = "0"

OHP_OK = 0
OHP_EINVAL = -1
OHP_ENOMEM = -2
OHP_ESTATE = -3
OHP_ERECORD = -4
OHP_ESOURCE = -5
OHP_ESINK = -6
OHP_EZIP = -7
OHP_ENOTFOUND = -8
OHP_EINACTIVE = -9
OHP_EEXISTS = -10
OHP_EPARSE = -11
OHP_EDENIED = -12
OHP_ESTORE = -13
OHP_ECANCELED = -14
OHP_EREJECT = -15
OHP_EVERSION = -16
OHP_ELIMIT = -17
OHP_EAUTH = -18
OHP_EIO = -19
OHP_EEMPTY = -20
OHP_EUNSUPPORTED = -21
OHP_EBUSY = -22
OHP_EFILE = -23

OHP_FILESINK_FILE = 0x1
OHP_FILESINK_MSGSIZE = 512
OHP_FILESTATE_NOWAIT = 0x1
OHP_FILESTATE_TRUNCATE = 0x2

OHP_ENGINE_ZLIB = 0
OHP_ENGINE_ISAL = 1
OHP_ENGINE_BEST = 2

# --------------------------------------------------------------------------
# Structures
# --------------------------------------------------------------------------

_MALLOC_FN = CFUNCTYPE(c_void_p, c_void_p, c_size_t)
_REALLOC_FN = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_size_t)
_FREE_FN = CFUNCTYPE(None, c_void_p, c_void_p)


class ohp_allocator(Structure):
    """struct ohp_allocator (the binding always passes NULL)."""

    _fields_ = [
        ("version", c_uint),
        ("malloc_fn", _MALLOC_FN),
        ("realloc_fn", _REALLOC_FN),
        ("free_fn", _FREE_FN),
        ("opaque", c_void_p),
    ]


class ohp_lookup_value(Structure):
    """struct ohp_lookup_value."""

    _fields_ = [
        ("version", c_uint),
        ("code", c_char_p),
        ("meaning", c_char_p),
        ("description", c_char_p),
        ("enabled", c_int),
        ("start_date", c_int64),
        ("end_date", c_int64),
        ("has_display_sequence", c_int),
        ("display_sequence", c_int64),
        ("tag", c_char_p),
    ]


class ohp_serial(Structure):
    """struct ohp_serial: one serial (to is NULL) or a range from..to."""

    _fields_ = [("from_", c_char_p), ("to", c_char_p)]


class ohp_record(Structure):
    """struct ohp_record."""

    _fields_ = [
        ("version", c_uint),
        ("organization_id", c_char_p),
        ("organization_code", c_char_p),
        ("inventory_item_id", c_char_p),
        ("item_number", c_char_p),
        ("revision", c_char_p),
        ("subinventory_code", c_char_p),
        ("locator_id", c_char_p),
        ("locator_name", c_char_p),
        ("lot_number", c_char_p),
        ("lot_expiration_date", c_char_p),
        ("serial_controlled", c_int),
        ("serials", POINTER(ohp_serial)),
        ("serial_count", c_size_t),
        ("serial_list", c_char_p),
        ("primary_quantity", c_char_p),
        ("primary_uom_code", c_char_p),
        ("secondary_quantity", c_char_p),
        ("secondary_uom_code", c_char_p),
        ("consigned", c_int),
        ("owning_party_id", c_char_p),
        ("project_id", c_char_p),
        ("task_id", c_char_p),
        ("material_status_code", c_char_p),
        ("last_update_date", c_char_p),
        ("source_error", c_char_p),
    ]


class ohp_params(Structure):
    """struct ohp_params."""

    _fields_ = [
        ("version", c_uint),
        ("system_code", c_char_p),
        ("organization_code", c_char_p),
        ("items", c_int),
        ("full_publish", c_int),
        ("publish_from", c_int64),
        ("snapshot_date", c_int64),
        ("run_id", c_uint64),
        ("compression_level", c_int),
        ("on_error", c_int),
        ("user", c_char_p),
        ("caller_authorized", c_int),
        ("progress_interval", c_uint64),
        ("max_field_length", c_size_t),
        ("max_serials_per_record", c_size_t),
        ("threads", c_uint),
        # version 2
        ("max_changed_keys", c_uint64),
        ("allow_empty", c_int),
        ("max_rejects", c_uint64),
        ("max_reject_percent", c_uint),
        ("omit_manifest", c_int),
        ("engine", c_int),
    ]


class ohp_source_query(Structure):
    """struct ohp_source_query."""

    _fields_ = [
        ("version", c_uint),
        ("system_code", c_char_p),
        ("organization_code", c_char_p),
        ("items", c_int),
        ("mode", c_int),
        ("window_start", c_int64),
        ("snapshot_date", c_int64),
        ("run_id", c_uint64),
        # version 2
        ("pass_", c_int),
    ]


class ohp_rejection(Structure):
    """struct ohp_rejection."""

    _fields_ = [
        ("version", c_uint),
        ("ordinal", c_uint64),
        ("rule", c_int),
        ("message", c_char_p),
        ("record", POINTER(ohp_record)),
    ]


class ohp_summary(Structure):
    """struct ohp_summary."""

    _fields_ = [
        ("version", c_uint),
        ("status", c_int),
        ("error", c_int),
        ("mode", c_int),
        ("items", c_int),
        ("window_start", c_int64),
        ("snapshot_date", c_int64),
        ("run_id", c_uint64),
        ("system_code", c_char_p),
        ("organization_code", c_char_p),
        ("file_name", c_char_p),
        ("entry_name", c_char_p),
        ("records_read", c_uint64),
        ("records_published", c_uint64),
        ("skipped_organization", c_uint64),
        ("skipped_item_type", c_uint64),
        ("skipped_window", c_uint64),
        ("skipped_zero", c_uint64),
        ("records_rejected", c_uint64),
        ("serial_lines", c_uint64),
        ("lines_written", c_uint64),
        ("psv_bytes", c_uint64),
        ("compressed_bytes", c_uint64),
        ("zip_bytes", c_uint64),
        ("crc32", c_uint32),
        ("warning_count", c_size_t),
        ("uom_total_count", c_size_t),
        ("error_ordinal", c_uint64),
        ("error_rule", c_int),
        # version 2
        ("changed_keys", c_uint64),
        ("engine", c_int),
    ]


class ohp_snapshot_record(Structure):
    """struct ohp_snapshot_record."""

    _fields_ = [
        ("version", c_uint),
        ("line", c_uint64),
        ("external_system_code", c_char_p),
        ("publish_run_id", c_uint64),
        ("mode", c_int),
        ("snapshot_date", c_int64),
        ("organization_id", c_char_p),
        ("organization_code", c_char_p),
        ("inventory_item_id", c_char_p),
        ("item_number", c_char_p),
        ("revision", c_char_p),
        ("subinventory_code", c_char_p),
        ("locator_id", c_char_p),
        ("locator_name", c_char_p),
        ("lot_number", c_char_p),
        ("lot_expiration_date", c_int64),
        ("serial_controlled", c_int),
        ("serial_number", c_char_p),
        ("primary_quantity", c_char_p),
        ("primary_uom_code", c_char_p),
        ("secondary_quantity", c_char_p),
        ("secondary_uom_code", c_char_p),
        ("consigned", c_int),
        ("owning_party_id", c_char_p),
        ("project_id", c_char_p),
        ("task_id", c_char_p),
        ("material_status_code", c_char_p),
        ("last_update_date", c_int64),
    ]


class ohp_snapshot_info(Structure):
    """struct ohp_snapshot_info."""

    _fields_ = [
        ("version", c_uint),
        ("entry_name", c_char_p),
        ("external_system_code", c_char_p),
        ("publish_run_id", c_uint64),
        ("mode", c_int),
        ("snapshot_date", c_int64),
        ("organization_code", c_char_p),
    ]


class ohp_manifest(Structure):
    """struct ohp_manifest."""

    _fields_ = [
        ("version", c_uint),
        ("present", c_int),
        ("format_major", c_uint),
        ("format_minor", c_uint),
        ("layout", c_int),
        ("external_system_code", c_char_p),
        ("organization_code", c_char_p),
        ("run_id", c_uint64),
        ("mode", c_int),
        ("items", c_int),
        ("window_start", c_int64),
        ("snapshot_date", c_int64),
        ("data_lines", c_uint64),
        ("serial_lines", c_uint64),
        ("psv_bytes", c_uint64),
        ("crc32", c_uint32),
        ("uom_total_count", c_size_t),
        ("library_version", c_char_p),
        ("text", c_char_p),
    ]


class ohp_reconcile_options(Structure):
    """struct ohp_reconcile_options."""

    _fields_ = [
        ("version", c_uint),
        ("ignore", c_int),
        ("tolerance_absolute", c_char_p),
        ("tolerance_relative", c_char_p),
    ]


class ohp_discrepancy(Structure):
    """struct ohp_discrepancy."""

    _fields_ = [
        ("version", c_uint),
        ("kind", c_int),
        ("organization_code", c_char_p),
        ("item_number", c_char_p),
        ("revision", c_char_p),
        ("subinventory_code", c_char_p),
        ("locator", c_char_p),
        ("lot_number", c_char_p),
        ("owning_party_id", c_char_p),
        ("erp_quantity", c_char_p),
        ("erp_uom_code", c_char_p),
        ("external_quantity", c_char_p),
        ("external_uom_code", c_char_p),
        ("difference", c_char_p),
        ("serial_number", c_char_p),
        ("side", c_int),
        ("count", c_uint64),
        ("external_revision", c_char_p),
        ("external_subinventory_code", c_char_p),
        ("external_locator", c_char_p),
        ("external_lot_number", c_char_p),
        ("external_owning_party_id", c_char_p),
    ]


class ohp_reconcile_summary(Structure):
    """struct ohp_reconcile_summary."""

    _fields_ = [
        ("version", c_uint),
        ("erp_lines", c_uint64),
        ("external_lines", c_uint64),
        ("erp_keys", c_uint64),
        ("external_keys", c_uint64),
        ("erp_serials", c_uint64),
        ("external_serials", c_uint64),
        ("keys_compared", c_uint64),
        ("matched", c_uint64),
        ("within_tolerance", c_uint64),
        ("quantity_mismatch", c_uint64),
        ("missing_external", c_uint64),
        ("missing_erp", c_uint64),
        ("uom_mismatch", c_uint64),
        ("serial_missing_external", c_uint64),
        ("serial_missing_erp", c_uint64),
        ("serial_moved", c_uint64),
        ("serial_duplicate", c_uint64),
        ("discrepancies", c_uint64),
        ("uom_total_count", c_size_t),
        ("external_other_organization", c_uint64),
        ("external_missing_key_parts", c_int),
    ]


# --------------------------------------------------------------------------
# Callback types.  Pointer arguments the binding only forwards or copies are
# declared c_void_p (they arrive as int or None), which keeps the
# trampolines cheap.
# --------------------------------------------------------------------------

LOOKUP_VISIT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(ohp_lookup_value))
SOURCE_OPEN_FN = CFUNCTYPE(c_int, c_void_p, POINTER(ohp_source_query))
SOURCE_NEXT_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)  # ohp_record *
SOURCE_CLOSE_FN = CFUNCTYPE(None, c_void_p)
SINK_OPEN_FN = CFUNCTYPE(c_int, c_void_p, c_char_p)
SINK_WRITE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
SINK_CLOSE_FN = CFUNCTYPE(c_int, c_void_p, c_int)
STATE_GET_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, POINTER(c_int64))
STATE_NEXT_RUN_ID_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_uint64))
STATE_COMMIT_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, c_int64, c_uint64)
OHP_STATE_STORE_VERSION = 1
OHP_CLASS_SERIAL = 0
OHP_CLASS_NONSERIAL = 1


class ohp_class_state(Structure):
    """struct ohp_class_state."""

    _fields_ = [("watermark", c_int64), ("last_snapshot", c_int64)]


STATE2_GET_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, POINTER(ohp_class_state))
STATE2_RESERVE_FN = CFUNCTYPE(c_int, c_void_p, c_uint64, POINTER(c_uint64))
STATE2_COMMIT_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, c_int,
                             POINTER(ohp_class_state), c_uint64)


class ohp_state_store(Structure):
    """struct ohp_state_store."""

    _fields_ = [
        ("version", c_uint),
        ("get", STATE2_GET_FN),
        ("reserve_run_id", STATE2_RESERVE_FN),
        ("commit", STATE2_COMMIT_FN),
    ]
AUTHORIZE_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_char_p, POINTER(c_int))
REJECT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(ohp_rejection))
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_uint64)
READ_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, POINTER(c_size_t))
SEEK_FN = CFUNCTYPE(c_int, c_void_p, c_uint64)
REWIND_FN = CFUNCTYPE(c_int, c_void_p)
DISCREPANCY_FN = CFUNCTYPE(c_int, c_void_p, POINTER(ohp_discrepancy))
# The message buffer is a plain pointer: the callback writes into it.
FILESINK_PLACED_FN = CFUNCTYPE(c_int, c_void_p, c_char_p, c_int, c_void_p, c_size_t)

# Opaque handles are plain void pointers.
ohp_registry_p = c_void_p
ohp_job_p = c_void_p
ohp_memsink_p = c_void_p
ohp_filesink_p = c_void_p
ohp_filestate_p = c_void_p
ohp_psv_reader_p = c_void_p
ohp_balance_reader_p = c_void_p
ohp_snapshot_reader_p = c_void_p
ohp_reconcile_p = c_void_p

_P = POINTER

#: name -> (restype, argtypes): every function of include/onhandpub.h.
FUNCTIONS = {
    # version, errors
    "ohp_version": (c_char_p, []),
    "ohp_version_number": (c_int, []),
    "ohp_engine_available": (c_int, [c_int]),
    "ohp_strerror": (c_char_p, [c_int]),
    # dates, quantities
    "ohp_date_parse": (c_int, [c_char_p, _P(c_int64)]),
    "ohp_date_format": (c_int, [c_int64, c_int, c_char_p]),
    "ohp_quantity_canonical": (c_int, [c_char_p, c_char_p, c_size_t]),
    # registry
    "ohp_lookup_value_init": (c_int, [_P(ohp_lookup_value), c_uint]),
    "ohp_registry_new": (c_int, [_P(ohp_registry_p), _P(ohp_allocator)]),
    "ohp_registry_free": (None, [ohp_registry_p]),
    "ohp_registry_add": (c_int, [ohp_registry_p, _P(ohp_lookup_value)]),
    "ohp_registry_update": (c_int, [ohp_registry_p, _P(ohp_lookup_value)]),
    "ohp_registry_remove": (c_int, [ohp_registry_p, c_char_p]),
    "ohp_registry_load_psv": (c_int, [ohp_registry_p, c_char_p, c_size_t]),
    "ohp_registry_count": (c_size_t, [ohp_registry_p]),
    "ohp_registry_find": (c_int, [ohp_registry_p, c_char_p, _P(ohp_lookup_value)]),
    "ohp_registry_check": (c_int, [ohp_registry_p, c_char_p, c_int64]),
    "ohp_registry_foreach": (c_int, [ohp_registry_p, LOOKUP_VISIT_FN, c_void_p]),
    "ohp_registry_foreach_usable": (c_int, [ohp_registry_p, c_int64, LOOKUP_VISIT_FN, c_void_p]),
    "ohp_registry_errmsg": (c_char_p, [ohp_registry_p]),
    # parameters
    "ohp_params_init": (c_int, [_P(ohp_params), c_uint]),
    # job
    "ohp_job_new": (c_int, [_P(ohp_job_p), _P(ohp_allocator)]),
    "ohp_job_free": (None, [ohp_job_p]),
    "ohp_job_set_registry": (c_int, [ohp_job_p, ohp_registry_p]),
    "ohp_job_set_source": (
        c_int,
        [ohp_job_p, SOURCE_OPEN_FN, SOURCE_NEXT_FN, SOURCE_CLOSE_FN, c_void_p],
    ),
    "ohp_job_set_sink": (c_int, [ohp_job_p, SINK_OPEN_FN, SINK_WRITE_FN, SINK_CLOSE_FN, c_void_p]),
    "ohp_job_set_state_store": (
        c_int,
        [ohp_job_p, STATE_GET_FN, STATE_NEXT_RUN_ID_FN, STATE_COMMIT_FN, c_void_p],
    ),
    "ohp_job_set_state_store2": (c_int, [ohp_job_p, POINTER(ohp_state_store), c_void_p]),
    "ohp_job_set_authorizer": (c_int, [ohp_job_p, AUTHORIZE_FN, c_void_p]),
    "ohp_job_set_reject_callback": (c_int, [ohp_job_p, REJECT_FN, c_void_p]),
    "ohp_job_set_progress_callback": (c_int, [ohp_job_p, PROGRESS_FN, c_void_p]),
    "ohp_job_run": (c_int, [ohp_job_p, _P(ohp_params)]),
    "ohp_job_summary": (_P(ohp_summary), [ohp_job_p]),
    "ohp_job_uom_total": (c_int, [ohp_job_p, c_size_t, _P(c_char_p), _P(c_char_p)]),
    "ohp_job_warning": (c_char_p, [ohp_job_p, c_size_t]),
    "ohp_job_errmsg": (c_char_p, [ohp_job_p]),
    "ohp_job_set_callback_error": (c_int, [ohp_job_p, c_char_p]),
    # memory sink
    "ohp_memsink_new": (c_int, [_P(ohp_memsink_p), _P(ohp_allocator)]),
    "ohp_memsink_free": (None, [ohp_memsink_p]),
    "ohp_job_set_memsink": (c_int, [ohp_job_p, ohp_memsink_p]),
    "ohp_memsink_data": (c_void_p, [ohp_memsink_p, _P(c_size_t)]),
    "ohp_memsink_file_name": (c_char_p, [ohp_memsink_p]),
    "ohp_memsink_committed": (c_int, [ohp_memsink_p]),
    # file sink, file state store
    "ohp_filesink_new": (c_int, [_P(ohp_filesink_p), c_char_p, c_uint, _P(ohp_allocator),
                                 c_char_p]),
    "ohp_filesink_free": (None, [ohp_filesink_p]),
    "ohp_job_set_filesink": (c_int, [ohp_job_p, ohp_filesink_p]),
    "ohp_filesink_set_placed_callback": (c_int, [ohp_filesink_p, FILESINK_PLACED_FN, c_void_p]),
    "ohp_filesink_open": (c_int, [ohp_filesink_p, c_char_p]),
    "ohp_filesink_write": (c_int, [ohp_filesink_p, c_void_p, c_size_t]),
    "ohp_filesink_close": (c_int, [ohp_filesink_p, c_int]),
    "ohp_filesink_pending_fd": (c_int, [ohp_filesink_p, _P(c_int)]),
    "ohp_filesink_path": (c_char_p, [ohp_filesink_p]),
    "ohp_filesink_errmsg": (c_char_p, [ohp_filesink_p]),
    "ohp_filesink_error": (c_int, [ohp_filesink_p]),
    "ohp_filestate_open": (c_int, [_P(ohp_filestate_p), c_char_p, c_uint, _P(ohp_allocator),
                                   c_char_p]),
    "ohp_filestate_close": (None, [ohp_filestate_p]),
    "ohp_job_set_filestate": (c_int, [ohp_job_p, ohp_filestate_p]),
    "ohp_filestate_get": (c_int, [ohp_filestate_p, c_char_p, c_char_p, _P(ohp_class_state),
                                  _P(c_uint64)]),
    "ohp_filestate_last_run_id": (c_uint64, [ohp_filestate_p]),
    "ohp_filestate_reserve_run_id": (c_int, [ohp_filestate_p, c_uint64, _P(c_uint64)]),
    "ohp_filestate_put": (c_int, [ohp_filestate_p, c_char_p, c_char_p, _P(ohp_class_state),
                                  c_uint64]),
    "ohp_filestate_save": (c_int, [ohp_filestate_p]),
    "ohp_filestate_errmsg": (c_char_p, [ohp_filestate_p]),
    # PSV reading
    "ohp_psv_reader_new": (
        c_int,
        [_P(ohp_psv_reader_p), READ_FN, c_void_p, c_size_t, _P(ohp_allocator)],
    ),
    "ohp_psv_reader_new_memory": (
        c_int,
        [_P(ohp_psv_reader_p), c_void_p, c_size_t, _P(ohp_allocator)],
    ),
    "ohp_psv_reader_free": (None, [ohp_psv_reader_p]),
    "ohp_psv_reader_next": (c_int, [ohp_psv_reader_p, _P(_P(c_char_p)), _P(c_size_t)]),
    "ohp_psv_reader_line": (c_uint64, [ohp_psv_reader_p]),
    "ohp_psv_reader_errmsg": (c_char_p, [ohp_psv_reader_p]),
    "ohp_balance_reader_new": (
        c_int,
        [_P(ohp_balance_reader_p), READ_FN, c_void_p, _P(ohp_allocator)],
    ),
    "ohp_balance_reader_free": (None, [ohp_balance_reader_p]),
    "ohp_job_set_balance_reader": (c_int, [ohp_job_p, ohp_balance_reader_p]),
    "ohp_balance_reader_field": (c_char_p, [ohp_balance_reader_p, c_char_p]),
    "ohp_balance_reader_set_rewind": (c_int, [ohp_balance_reader_p, REWIND_FN]),
    "ohp_balance_reader_locate": (
        c_int,
        [ohp_balance_reader_p, c_uint64, _P(c_uint64), _P(c_size_t), _P(c_char_p)],
    ),
    # reading snapshots
    "ohp_snapshot_reader_open_zip": (
        c_int,
        [_P(ohp_snapshot_reader_p), READ_FN, SEEK_FN, c_void_p, c_uint64, _P(ohp_allocator)],
    ),
    "ohp_snapshot_reader_open_memory": (
        c_int,
        [_P(ohp_snapshot_reader_p), c_void_p, c_size_t, _P(ohp_allocator)],
    ),
    "ohp_snapshot_reader_open_psv": (
        c_int,
        [_P(ohp_snapshot_reader_p), READ_FN, c_void_p, _P(ohp_allocator)],
    ),
    "ohp_snapshot_reader_free": (None, [ohp_snapshot_reader_p]),
    "ohp_snapshot_reader_next": (
        c_int,
        [ohp_snapshot_reader_p, _P(_P(ohp_snapshot_record))],
    ),
    "ohp_snapshot_reader_info": (c_int, [ohp_snapshot_reader_p, _P(ohp_snapshot_info)]),
    "ohp_snapshot_reader_manifest": (c_int, [ohp_snapshot_reader_p, _P(ohp_manifest)]),
    "ohp_snapshot_reader_manifest_total": (
        c_int, [ohp_snapshot_reader_p, c_size_t, _P(c_char_p), _P(c_char_p)]),
    "ohp_snapshot_reader_errmsg": (c_char_p, [ohp_snapshot_reader_p]),
    # reconciliation
    "ohp_reconcile_options_init": (c_int, [_P(ohp_reconcile_options), c_uint]),
    "ohp_reconcile_new": (
        c_int,
        [_P(ohp_reconcile_p), _P(ohp_reconcile_options), _P(ohp_allocator)],
    ),
    "ohp_reconcile_free": (None, [ohp_reconcile_p]),
    "ohp_reconcile_load_erp": (c_int, [ohp_reconcile_p, _P(ohp_snapshot_reader_p), c_size_t]),
    "ohp_reconcile_load_external": (
        c_int,
        [ohp_reconcile_p, _P(ohp_snapshot_reader_p), c_size_t],
    ),
    "ohp_reconcile_load_external_psv": (c_int, [ohp_reconcile_p, READ_FN, c_void_p]),
    "ohp_reconcile_run": (c_int, [ohp_reconcile_p, DISCREPANCY_FN, c_void_p]),
    "ohp_reconcile_get_summary": (_P(ohp_reconcile_summary), [ohp_reconcile_p]),
    "ohp_reconcile_uom_total": (
        c_int,
        [ohp_reconcile_p, c_size_t, _P(c_char_p), _P(c_char_p), _P(c_char_p)],
    ),
    "ohp_reconcile_errmsg": (c_char_p, [ohp_reconcile_p]),
}


def _candidates() -> List[Tuple[str, str]]:
    """(description, name to pass to CDLL) in the order they are tried."""
    out: List[Tuple[str, str]] = []
    env = os.environ.get(LIBRARY_ENV)
    if env:
        out.append((f"${LIBRARY_ENV}={env}", env))
    out.append((f"soname {SONAME}", SONAME))
    found = ctypes.util.find_library("onhandpub")
    if found:
        out.append((f"ctypes.util.find_library('onhandpub') = {found}", found))
    else:
        out.append(("ctypes.util.find_library('onhandpub')", ""))
    return out


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    if not os.environ.get(LIBRARY_ENV):
        tried.append(f"${LIBRARY_ENV}: not set")
    for what, name in _candidates():
        if not name:
            tried.append(f"{what}: nothing found")
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as exc:
            tried.append(f"{what}: {exc}")
    raise ImportError(
        "libonhandpub could not be loaded; tried:\n  "
        + "\n  ".join(tried)
        + f"\nSet {LIBRARY_ENV} to the path of libonhandpub.so.1 or install the library."
    )


def _declare(lib: ctypes.CDLL) -> None:
    missing = []
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError(
            f"{library_path} lacks symbol(s) this binding needs: {', '.join(missing)}"
        )


lib, library_path = _load()
_declare(lib)

_number = lib.ohp_version_number()
if _number // 10000 != ABI_MAJOR:
    raise ImportError(
        f"{library_path} is libonhandpub {lib.ohp_version().decode()} "
        f"(version number {_number}); this binding needs major version {ABI_MAJOR}"
    )


def decode(b: "bytes | None") -> str:
    """A C string from the library as str ("" for NULL)."""
    if b is None:
        return ""
    return b.decode("utf-8", "replace")


def strerror(code: int) -> str:
    """The library's static text for an error code."""
    return decode(lib.ohp_strerror(code))


def char_array(size: int):
    """A zeroed C char buffer of size bytes."""
    return (c_char * size)()
