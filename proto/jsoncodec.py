"""Mesos' own JSON mapping for protobuf messages (the one stout's protobuf.hpp implements).

Role: converts any protobuf message to and from the JSON that a Mesos master
speaks on /api/v1/scheduler and /api/v1/executor with `application/json`.
Callers: the framework's Mesos client codec, the executor and the harness. It is
pure (no I/O, no logging) and imports nothing of Gantry's beyond protobuf.

Why not google.protobuf.json_format: Mesos' mapping differs from proto3 JSON.
  * Keys are the proto field names (`framework_id`), never lowerCamelCase.
  * 64-bit integers are JSON numbers, not strings; bytes are standard base64.
  * Enums are names only: a JSON number in an enum field is an error, and an
    unknown name is dropped (the field stays unset; in a repeated field the
    element is skipped) unless the field is required.
  * When printing, an unset singular field with an explicit, non-deprecated
    default is printed with that default (e.g. Filters prints refuse_seconds 5.0).
  * When parsing, unknown keys are ignored, `null` means absent, numbers written
    as strings are accepted in numeric fields, "Infinity"/"-Infinity" in double
    fields, and a single value where a repeated field expects a list is taken as
    a one-element list. Missing required fields are reported by path.

Speed: each message type's fields are analysed once and cached, so encoding
and decoding walk plain tuples instead of re-reading descriptors per call.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

if TYPE_CHECKING:
    # Messages of the upb backend report their own descriptor class in the stubs.
    from google._upb._message import Descriptor as _UpbDescriptor
    from google._upb._message import FieldDescriptor as _UpbFieldDescriptor

    AnyDescriptor: TypeAlias = Descriptor | _UpbDescriptor
    AnyFieldDescriptor: TypeAlias = FieldDescriptor | _UpbFieldDescriptor
else:
    AnyDescriptor: TypeAlias = Descriptor
    AnyFieldDescriptor: TypeAlias = FieldDescriptor

__all__ = ["JSONCodecError", "dumps", "parse", "to_dict"]

M = TypeVar("M", bound=Message)


class JSONCodecError(ValueError):
    """Malformed JSON, or JSON that does not fit the message type.

    The message follows Mesos' wording (e.g. "Not expecting a JSON number for field
    'type'"); `path` names the offending field from the top-level message (such as
    `subscribe.framework_info.capabilities[0].type`), or is empty when the problem
    is the document as a whole.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class _Kind(enum.Enum):
    INT = enum.auto()
    FLOAT = enum.auto()
    BOOL = enum.auto()
    STRING = enum.auto()
    BYTES = enum.auto()
    ENUM = enum.auto()
    MESSAGE = enum.auto()
    MAP = enum.auto()


_INT_RANGES: dict[int, tuple[int, int, str]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1, "sint32"),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1, "sfixed32"),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1, "sint64"),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1, "sfixed64"),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1, "uint32"),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1, "fixed32"),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1, "uint64"),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1, "fixed64"),
}

_SIMPLE_KINDS: dict[int, _Kind] = {
    FieldDescriptor.TYPE_DOUBLE: _Kind.FLOAT,
    FieldDescriptor.TYPE_FLOAT: _Kind.FLOAT,
    FieldDescriptor.TYPE_BOOL: _Kind.BOOL,
    FieldDescriptor.TYPE_STRING: _Kind.STRING,
    FieldDescriptor.TYPE_BYTES: _Kind.BYTES,
    FieldDescriptor.TYPE_ENUM: _Kind.ENUM,
    FieldDescriptor.TYPE_MESSAGE: _Kind.MESSAGE,
}


@dataclass(frozen=True, slots=True)
class _Field:
    """Everything the codec needs about one field, computed once per message type."""

    name: str
    number: int
    kind: _Kind
    repeated: bool
    required: bool
    # Integer bounds and the proto type name (for error messages).
    low: int = 0
    high: int = 0
    type_name: str = ""
    # Print this value when the field is unset (explicit, non-deprecated default).
    print_default: Any = None
    enum_by_name: Mapping[str, int] | None = None
    enum_by_number: Mapping[int, str] | None = None
    # Map fields: how keys and values convert.
    key: _Field | None = None
    value: _Field | None = None


@dataclass(frozen=True, slots=True)
class _Table:
    fields: tuple[_Field, ...]
    by_name: Mapping[str, _Field]
    # Fields that print a default when unset.
    with_defaults: tuple[_Field, ...]
    # Declaration order, when ListFields (field-number order) can differ from it.
    reorder: tuple[str, ...] | None


# Keyed by descriptor object: one lookup per message, no attribute access.
_TABLES: dict[Any, _Table] = {}


def _table(descriptor: AnyDescriptor) -> _Table:
    table = _TABLES.get(descriptor)
    if table is None:
        fields = tuple(_describe(field) for field in descriptor.fields)
        with_defaults = tuple(field for field in fields if field.print_default is not None)
        numbers = [field.number for field in fields]
        in_number_order = numbers == sorted(numbers)
        table = _Table(
            fields=fields,
            by_name={field.name: field for field in fields},
            with_defaults=with_defaults,
            reorder=None if in_number_order and not with_defaults else tuple(f.name for f in fields),
        )
        _TABLES[descriptor] = table
    return table


def _describe(field: AnyFieldDescriptor) -> _Field:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return _Field(
            name=field.name,
            number=field.number,
            kind=_Kind.MAP,
            repeated=False,
            required=False,
            key=_describe(message_type.fields_by_name["key"]),
            value=_describe(message_type.fields_by_name["value"]),
        )
    low, high, type_name = _INT_RANGES.get(field.type, (0, 0, ""))
    kind = _Kind.INT if type_name else _SIMPLE_KINDS[field.type]
    enum_by_name: dict[str, int] | None = None
    enum_by_number: dict[int, str] | None = None
    if kind is _Kind.ENUM:
        assert field.enum_type is not None
        enum_by_name = {value.name: value.number for value in field.enum_type.values}
        enum_by_number = {value.number: value.name for value in field.enum_type.values}
    print_default: Any = None
    # stout prints unset optional fields that declare a default, unless deprecated.
    if field.has_default_value and not field.is_repeated and not field.GetOptions().deprecated:
        print_default = _plain_value(field.default_value, kind, enum_by_number)
    return _Field(
        name=field.name,
        number=field.number,
        kind=kind,
        repeated=field.is_repeated,
        required=field.is_required,
        low=low,
        high=high,
        type_name=type_name,
        print_default=print_default,
        enum_by_name=enum_by_name,
        enum_by_number=enum_by_number,
    )


# --- protobuf -> JSON ---------------------------------------------------------------------


def to_dict(message: Message, *, defaults: bool = True) -> dict[str, Any]:
    """The JSON object Mesos would print for `message`, as Python values.

    With `defaults` (Mesos' behaviour) unset optional fields that declare a
    non-deprecated default are included with that default; without it only set
    fields appear, which makes `parse(to_dict(m)) == m` exact.
    """
    table = _table(message.DESCRIPTOR)
    by_name = table.by_name
    out: dict[str, Any] = {}
    # ListFields yields only set fields (and non-empty repeated ones), in C.
    for descriptor, value in message.ListFields():
        name = descriptor.name
        field = by_name[name]
        kind = field.kind
        if kind in _VERBATIM:
            out[name] = list(value) if field.repeated else value
        elif kind is _Kind.MESSAGE:
            if field.repeated:
                out[name] = [to_dict(item, defaults=defaults) for item in value]
            else:
                out[name] = to_dict(value, defaults=defaults)
        elif kind is _Kind.MAP:
            assert field.value is not None
            out[name] = {_map_key(key): _to_json(item, field.value, defaults) for key, item in value.items()}
        elif field.repeated:
            out[name] = [_plain_value(item, kind, field.enum_by_number) for item in value]
        else:
            out[name] = _plain_value(value, kind, field.enum_by_number)
    if defaults:
        for field in table.with_defaults:
            if field.name not in out:
                out[field.name] = field.print_default
    if table.reorder is not None:
        # Print in declaration order, as stout does.
        out = {name: out[name] for name in table.reorder if name in out}
    return out


# JSON represents these exactly as Python holds them.
_VERBATIM = frozenset({_Kind.INT, _Kind.STRING, _Kind.BOOL})


_ABSENT: Any = object()


def _map_key(key: Any) -> str:
    # JSON object keys are strings; stout writes bool keys as JSON booleans do.
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _to_json(value: Any, field: _Field, defaults: bool) -> Any:
    kind = field.kind
    if kind is _Kind.MESSAGE:
        return to_dict(value, defaults=defaults)
    return _plain_value(value, kind, field.enum_by_number)


def _plain_value(value: Any, kind: _Kind, enum_by_number: Mapping[int, str] | None) -> Any:
    if kind is _Kind.ENUM:
        assert enum_by_number is not None
        return enum_by_number[value]
    if kind is _Kind.BYTES:
        return base64.b64encode(value).decode("ascii")
    if kind is _Kind.FLOAT and not math.isfinite(value):
        # JSON has no infinity literal; stout's parser accepts these strings back.
        if math.isnan(value):
            raise JSONCodecError("Cannot represent NaN in Mesos JSON")
        return "Infinity" if value > 0 else "-Infinity"
    return value


def dumps(message: Message, *, defaults: bool = True) -> bytes:
    """Compact UTF-8 JSON for `message`: no spaces and no raw newlines (safe inside RecordIO)."""
    # json escapes control characters inside strings, so "\n" can only appear escaped.
    return json.dumps(
        to_dict(message, defaults=defaults), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


# --- JSON -> protobuf ---------------------------------------------------------------------


def parse(data: bytes | str | Mapping[str, Any], message_type: type[M]) -> M:
    """Build a `message_type` from Mesos JSON (raw bytes/str, or an already decoded object).

    Raises JSONCodecError for malformed JSON, values of the wrong JSON type, and
    missing required fields ("Missing required fields: framework_info.user").
    """
    document: Any = data
    if isinstance(data, bytes | str):
        try:
            document = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:
            raise JSONCodecError(f"Failed to parse JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise JSONCodecError(f"Expecting a JSON object, got {_json_type(document)}")
    message = message_type()
    try:
        _fill(message, document, "")
    except RecursionError:
        raise JSONCodecError("JSON is nested too deeply") from None
    # IsInitialized runs in C; the slower walk that names the fields runs only on failure.
    if not message.IsInitialized():
        missing = ", ".join(_missing_required(message, ""))
        raise JSONCodecError(f"Missing required fields: {missing}")
    return message


def _missing_required(message: Message, prefix: str) -> list[str]:
    """Paths of unset required fields, like protobuf's InitializationErrorString."""
    missing: list[str] = []
    table = _table(message.DESCRIPTOR)
    for field in table.fields:
        if field.required and not message.HasField(field.name):
            missing.append(prefix + field.name)
    for field in table.fields:
        if field.kind is _Kind.MESSAGE:
            if field.repeated:
                for index, child in enumerate(getattr(message, field.name)):
                    missing += _missing_required(child, f"{prefix}{field.name}[{index}].")
            elif message.HasField(field.name):
                missing += _missing_required(getattr(message, field.name), f"{prefix}{field.name}.")
        elif field.kind is _Kind.MAP and field.value is not None and field.value.kind is _Kind.MESSAGE:
            for key, child in getattr(message, field.name).items():
                missing += _missing_required(child, f"{prefix}{field.name}[{key!r}].")
    return missing


def _reject_constant(name: str) -> Any:
    # Python's json accepts bare NaN/Infinity literals; JSON (and Mesos) do not.
    raise ValueError(f"invalid JSON literal {name}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return f"Python {type(value).__name__}"


def _is_object(value: Any) -> bool:
    # json.loads builds plain dicts; the ABC check is the slow path for other mappings.
    return type(value) is dict or isinstance(value, Mapping)


def _is_array(value: Any) -> bool:
    return type(value) is list or isinstance(value, tuple)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _ConversionError(Exception):
    """A scalar did not convert; the caller, which knows the path, turns it into JSONCodecError."""


def _locate(error: _ConversionError, field: _Field, path: str) -> JSONCodecError:
    message = str(error)
    # Mesos names only the field; say where it is when that is not obvious.
    if path != field.name:
        message = f"{message} (at {path})"
    return JSONCodecError(message, path)


def _unexpected(value: Any, field: _Field) -> _ConversionError:
    return _ConversionError(f"Not expecting a JSON {_json_type(value)} for field '{field.name}'")


# Walking the document. `path` is always the path of the message being filled; a
# field's own path is built only when descending into it or reporting an error,
# which keeps string formatting off the hot path.


def _fill(message: Message, document: Mapping[str, Any], path: str) -> None:
    by_name = _table(message.DESCRIPTOR).by_name
    for key, value in document.items():
        field = by_name.get(key)
        if field is None or value is None:
            continue  # Unknown keys are ignored; null means unset.
        kind = field.kind
        if kind is _Kind.MAP:
            _fill_map(message, field, value, _join(path, key))
        elif field.repeated:
            _add_repeated(message, field, value, _join(path, key))
        elif kind is _Kind.MESSAGE:
            if not _is_object(value):
                raise _locate(_unexpected(value, field), field, _join(path, key))
            child = getattr(message, key)
            child.SetInParent()  # `{}` still marks the sub-message present.
            _fill(child, value, _join(path, key))
        else:
            try:
                converted = _convert_scalar(value, field)
            except _ConversionError as error:
                raise _locate(error, field, _join(path, key)) from None
            if converted is not _ABSENT:
                setattr(message, key, converted)


def _add_repeated(message: Message, field: _Field, value: Any, path: str) -> None:
    if _is_array(value):
        # stout applies the field to each element, so nested arrays flatten and nulls vanish.
        for index, item in enumerate(value):
            if item is not None:
                _add_repeated(message, field, item, f"{path}[{index}]")
        return
    container = getattr(message, field.name)
    if field.kind is _Kind.MESSAGE:
        if not _is_object(value):
            raise _locate(_unexpected(value, field), field, path)
        _fill(container.add(), value, path)
        return
    try:
        converted = _convert_scalar(value, field)
    except _ConversionError as error:
        raise _locate(error, field, path) from None
    if converted is not _ABSENT:
        container.append(converted)


def _fill_map(message: Message, field: _Field, value: Any, path: str) -> None:
    assert field.key is not None and field.value is not None
    if _is_array(value):
        for index, item in enumerate(value):
            if item is not None:
                _fill_map(message, field, item, f"{path}[{index}]")
        return
    if not _is_object(value):
        raise _locate(_unexpected(value, field), field, path)
    container = getattr(message, field.name)
    for raw_key, item in value.items():
        entry_path = f"{path}[{raw_key!r}]"
        try:
            key = _convert_scalar(raw_key, field.key)
        except _ConversionError as error:
            raise _locate(error, field.key, entry_path) from None
        if key is _ABSENT or item is None:
            continue
        if field.value.kind is _Kind.MESSAGE:
            if not _is_object(item):
                raise _locate(_unexpected(item, field.value), field.value, entry_path)
            _fill(container[key], item, entry_path)
            continue
        try:
            converted = _convert_scalar(item, field.value)
        except _ConversionError as error:
            raise _locate(error, field.value, entry_path) from None
        if converted is not _ABSENT:
            container[key] = converted


# Converting one JSON scalar.


def _convert_scalar(value: Any, field: _Field) -> Any:
    """A JSON scalar as the Python value for `field`, or _ABSENT when Mesos would drop it."""
    kind = field.kind
    value_type = type(value)
    if kind is _Kind.STRING:
        if value_type is str:
            return value
        raise _unexpected(value, field)
    if kind is _Kind.ENUM:
        if value_type is not str:
            raise _unexpected(value, field)
        assert field.enum_by_name is not None
        number = field.enum_by_name.get(value)
        if number is None:
            if field.required:
                raise _ConversionError(f"Failed to find enum for '{value}'")
            return _ABSENT  # proto2 semantics: an unknown enum value leaves the field unset.
        return number
    if kind is _Kind.BYTES:
        if value_type is not str:
            raise _unexpected(value, field)
        return _decode_base64(value, field)
    if kind is _Kind.BOOL:
        return _convert_bool(value, field)
    if value_type is str:
        value = _number_from_string(value, field)
    elif value_type is bool or not isinstance(value, int | float):
        raise _unexpected(value, field)
    if kind is _Kind.FLOAT:
        return float(value)
    return _convert_int(value, field)


def _convert_bool(value: Any, field: _Field) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in ("true", "false"):
            return stripped == "true"
        raise _ConversionError(f"Failed to parse '{value}' as a JSON boolean for field '{field.name}'")
    raise _unexpected(value, field)


def _number_from_string(text: str, field: _Field) -> int | float:
    if field.kind is _Kind.FLOAT:
        if text == "Infinity":
            return math.inf
        if text == "-Infinity":
            return -math.inf
    try:
        number = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        number = None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise _ConversionError(f"Failed to parse '{text}' as a JSON number for field '{field.name}'")
    return number


def _convert_int(value: int | float, field: _Field) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise _ConversionError(f"Value {value} is out of range for {field.type_name} field '{field.name}'")
    # Like stout, a fractional number in an integer field is truncated toward zero.
    integer = int(value)
    if not field.low <= integer <= field.high:
        raise _ConversionError(f"Value {value} is out of range for {field.type_name} field '{field.name}'")
    return integer


_BASE64_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")
_WHITESPACE = re.compile(r"\s+")


def _decode_base64(text: str, field: _Field) -> bytes:
    # stout's decoder skips whitespace, stops at the first '=' and does not insist on
    # padding; accept the same inputs, and reject characters outside the alphabet.
    body = _WHITESPACE.sub("", text).split("=", 1)[0]
    if not _BASE64_ALPHABET.fullmatch(body):
        bad = next(char for char in body if not (char.isascii() and (char.isalnum() or char in "+/")))
        raise _ConversionError(
            f"Failed to base64 decode bytes field '{field.name}': Invalid character '{bad}'"
        )
    if len(body) % 4 == 1:
        # A lone trailing sextet carries no whole byte; stout ignores it.
        body = body[:-1]
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as error:
        raise _ConversionError(f"Failed to base64 decode bytes field '{field.name}': {error}") from None
