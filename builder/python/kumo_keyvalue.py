"""Kumo's key-value bindings for apps that use the key-value add-on.

The Python buildpack builds such an app against a world that also imports
wasi:keyvalue (store, atomics, batch) and Spin's fermyon:spin/key-value, and
imports this module before the app. componentize-py generates their bindings
as `wit_world.imports.store`, `.atomics`, `.batch` and `.key_value`.

Spin's Python SDK 3.x (`spin_sdk.key_value`) ships stub bindings, which
componentize-py 0.25 leaves in place for a world that is not the SDK's own:
the SDK's module is pointed at the generated ones here, and its `Ok`/`Err` at
the ones the generated bindings raise, so `key_value.open_default()` is the
app's key-value add-on.
"""

import sys

import componentize_py_types
from wit_world.imports import key_value

try:
    import spin_sdk.wit.imports as _spin_imports
    import spin_sdk.wit.types as _spin_types
except ImportError:  # the app does not use Spin's SDK
    pass
else:
    _spin_types.Ok = componentize_py_types.Ok
    _spin_types.Err = componentize_py_types.Err
    sys.modules["spin_sdk.wit.imports.key_value"] = key_value
    _spin_imports.key_value = key_value
