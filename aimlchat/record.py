"""`@record`: a dataclass that costs nothing at import.

`@dataclass` compiles generated source for every class it makes (`__init__`, `__eq__`,
`__repr__`, and for a frozen one `__hash__`, `__setattr__`, `__delattr__`): about 0.5 ms
a class, and a piped `ask` imports some thirty of them, a sixth of its start-up beyond
typer and requests. A record compiles only its `__init__`, and only once it has made a
few instances (the first ones bind their arguments by hand); equality, hashing and repr
are shared methods that read the fields.
Type checkers see a dataclass (`dataclass_transform`), fields and defaults are declared
the same way (`dataclasses.field` for factories, `compare=False`, `repr=False`), and
`replace` stands in for `dataclasses.replace`.

No inheritance between records, no `__post_init__`, no slots, no `field(init=False)`,
`kw_only` or `hash`: what this code base uses; each of those is refused, not ignored.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda f: f


T = TypeVar("T")
_MISSING = dataclasses.MISSING


@dataclass_transform(field_specifiers=(dataclasses.field,))
def record(*, frozen: bool = False, eq: bool = True) -> Callable[[type[T]], type[T]]:
    """A class decorator like `dataclass(frozen=…, eq=…)`."""

    def make(cls: type[T]) -> type[T]:
        if any(hasattr(base, "_record") for base in cls.__mro__[1:]):
            raise TypeError(f"{cls.__name__}: a record cannot subclass a record")
        spec = _Spec(cls, frozen=frozen)
        ns: dict[str, Any] = {
            "_record": spec,
            "__init__": _first_init,
            "__repr__": _repr,
            "__match_args__": tuple(spec.names),
        }
        if eq:
            ns["__eq__"] = _eq
            ns["__hash__"] = _hash if frozen else None
        if frozen:
            ns["__setattr__"] = _frozen_setattr
            ns["__delattr__"] = _frozen_delattr
        for name, value in ns.items():
            setattr(cls, name, value)
        for name, default in spec.defaults.items():  # as dataclass leaves the class
            if _is_factory(default):
                delattr(cls, name)
            elif isinstance(cls.__dict__.get(name), dataclasses.Field):
                setattr(cls, name, default)
        return cls

    return make


def replace(obj: T, **changes: Any) -> T:
    """A copy of the record `obj` with some fields changed (`dataclasses.replace`)."""
    spec: _Spec = type(obj)._record  # type: ignore[attr-defined]
    values = {name: obj.__dict__[name] for name in spec.names}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    return type(obj)(**{**values, **changes})


def field_names(cls: type) -> list[str]:
    """The record class's fields, in order (`dataclasses.fields`, by name)."""
    return list(cls._record.names)  # type: ignore[attr-defined]


class _Spec:
    """What a record's fields are, read from the class's annotations (which are strings:
    every module here has `from __future__ import annotations`)."""

    def __init__(self, cls: type, *, frozen: bool) -> None:
        self.cls, self.frozen = cls, frozen
        self.made = 0  # instances so far, before the compiled __init__
        self.names: list[str] = []
        self.defaults: dict[str, Any] = {}  # a value, or a dataclasses.Field with a factory
        self.compared: list[str] = []
        self.shown: list[str] = []
        for name, annotation in inspect.get_annotations(cls).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            self.names.append(name)
            default: Any = cls.__dict__.get(name, _MISSING)
            compare = shown = True
            if isinstance(default, dataclasses.Field):
                if not default.init or default.kw_only is True or default.hash is not None:
                    raise TypeError(f"{cls.__name__}.{name}: init, kw_only and hash are not kept")
                compare, shown = default.compare, default.repr
                if default.default is not _MISSING:
                    default = default.default
                elif default.default_factory is _MISSING:
                    default = _MISSING
            if isinstance(default, (list, dict, set)):  # shared by every instance
                raise ValueError(f"{cls.__name__}.{name}: a mutable default; use default_factory")
            if default is not _MISSING:
                self.defaults[name] = default
            elif self.defaults:
                raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one")
            if compare:
                self.compared.append(name)
            if shown:
                self.shown.append(name)

    def bind(self, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """What the compiled `__init__` does, interpreted: the same errors for a missing,
        repeated or unknown argument."""
        name = self.cls.__name__
        if len(args) > len(self.names):
            raise TypeError(f"{name}() takes {len(self.names)} arguments, got {len(args)}")
        values = dict(zip(self.names[: len(args)], args, strict=True))
        for key, value in kwargs.items():
            if key not in self.names:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        d = obj.__dict__
        for field_name in self.names:
            if field_name in values:
                d[field_name] = values[field_name]
                continue
            default = self.defaults.get(field_name, _MISSING)
            if default is _MISSING:
                raise TypeError(f"{name}() missing required argument {field_name!r}")
            d[field_name] = default.default_factory() if _is_factory(default) else default

    def compile_init(self) -> Callable[..., None]:
        """`__init__` written out as dataclass writes it, compiled once for the class."""
        params, lines = ["self"], []
        ns: dict[str, Any] = {"_MISSING": _MISSING}
        for name in self.names:
            default = self.defaults.get(name, _MISSING)
            if _is_factory(default):  # called per instance
                ns[f"_f_{name}"] = default.default_factory
                params.append(f"{name}=_MISSING")
                lines.append(f"  d[{name!r}] = _f_{name}() if {name} is _MISSING else {name}")
                continue
            if default is _MISSING:
                params.append(name)
            else:
                ns[f"_d_{name}"] = default
                params.append(f"{name}=_d_{name}")
            lines.append(f"  d[{name!r}] = {name}")
        # Through __dict__: a frozen record's __setattr__ refuses, as a dataclass's does.
        body = "\n".join(["  d = self.__dict__", *lines]) if lines else "  pass"
        source = f"def __init__({', '.join(params)}):\n{body}\n"
        exec(source, ns)  # the one compile a record costs
        init: Callable[..., None] = ns["__init__"]
        init.__qualname__ = f"{self.cls.__qualname__}.__init__"
        return init


# Instances made by the generic `__init__` before a class's own is compiled. Most records
# are made a few times a run (settings, a plan, a stored row): binding their arguments by
# hand costs a microsecond, a compile a tenth of a millisecond. The streamed events are
# made per token, and get their compiled `__init__` early.
COMPILE_AFTER = 16


def _first_init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    spec: _Spec = cls._record
    spec.made += 1
    if spec.made < COMPILE_AFTER:
        spec.bind(self, args, kwargs)
        return
    init = spec.compile_init()
    type.__setattr__(cls, "__init__", init)
    init(self, *args, **kwargs)


def _is_factory(default: Any) -> bool:
    return isinstance(default, dataclasses.Field)


def _key(obj: Any) -> tuple[Any, ...]:
    d = obj.__dict__
    return tuple(d[name] for name in type(obj)._record.compared)


def _eq(self: Any, other: object) -> Any:  # bool, or NotImplemented
    if type(other) is not type(self):
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: Any) -> int:
    return hash(_key(self))


def _repr(self: Any) -> str:
    d = self.__dict__
    fields = ", ".join(f"{name}={d[name]!r}" for name in type(self)._record.shown)
    return f"{type(self).__qualname__}({fields})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
