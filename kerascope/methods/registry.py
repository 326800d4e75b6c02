"""The one registration point of attribution methods.

A ``Method`` subclass that defines ``name`` registers itself when its class is
created (``Method.__init_subclass__``); everything else is derived from the class:
the name and aliases ``kerascope.explain`` accepts, the public shortcut
``kerascope.<name>(model, x, targets, **options) -> (outputs, maps)``, and the table
``kerascope methods`` prints (name, family, one-line summary, paper).
"""

import dataclasses
import difflib
import functools
import inspect

_CLASSES = {}  # canonical name -> class
_ALIASES = {}  # every accepted name (canonical and aliases) -> canonical name


@dataclasses.dataclass(frozen=True)
class MethodInfo:
    """What the registry knows of one method (taken from its class attributes)."""

    name: str
    aliases: tuple
    family: str
    summary: str
    paper: str
    signed: bool
    cls: type


def register(cls):
    """Register ``cls`` under ``cls.name`` and ``cls.aliases`` (a later class with the
    same name replaces the earlier one, so a reloaded module or a test re-registers)."""
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"name: a registered method needs a Python identifier as its name, got {name!r} "
            f"on {cls.__qualname__}."
        )
    for alias in (name, *cls.aliases):
        owner = _ALIASES.get(alias)
        if owner is not None and owner != name and _CLASSES[owner].__qualname__ != cls.__qualname__:
            raise ValueError(
                f"name: {alias!r} is already the name of method {owner!r} "
                f"({_CLASSES[owner].__module__}.{_CLASSES[owner].__qualname__})."
            )
    previous = _CLASSES.get(name)
    if previous is not None:
        for alias in previous.aliases:
            _ALIASES.pop(alias, None)
    _CLASSES[name] = cls
    for alias in (name, *cls.aliases):
        _ALIASES[alias] = name
    return cls


def names():
    """Canonical names of the registered methods, in registration order."""
    return list(_CLASSES)


def lookup(name):
    """The class registered under ``name`` (canonical or alias); ValueError otherwise."""
    canonical = _ALIASES.get(name) if isinstance(name, str) else None
    if canonical is None:
        close = difflib.get_close_matches(str(name), list(_ALIASES), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"method: unknown method {name!r}.{hint} Known methods: {', '.join(_CLASSES)} "
            f"(`kerascope methods` lists them)."
        )
    return _CLASSES[canonical]


def catalog():
    """One ``MethodInfo`` per registered method, in registration order."""
    return [
        MethodInfo(cls.name, tuple(cls.aliases), cls.family, cls.summary, cls.paper,
                   bool(cls.signed), cls)
        for cls in _CLASSES.values()
    ]


@functools.lru_cache(maxsize=None)
def _signature(init):
    return inspect.signature(init)


def options_of(cls):
    """``{option: default}`` of a method class's constructor."""
    parameters = _signature(cls.__init__).parameters.values()
    return {
        p.name: (None if p.default is p.empty else p.default)
        for p in parameters
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _construct(cls, options):
    """``cls(**options)``; an option the constructor does not take is a ValueError."""
    signature = _signature(cls.__init__)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    if not takes_any:
        unknown = sorted(set(options) - set(options_of(cls)))
        if unknown:
            raise ValueError(
                f"{unknown[0]}: method {cls.name!r} has no option {unknown[0]!r}; its "
                f"options are {', '.join(options_of(cls)) or 'none'}."
            )
    return cls(**options)


def _has_hooks(obj):
    """Whether ``obj`` (a class or an instance) has the ``Method`` hooks; the
    registry sits below ``methods.base`` and so checks the interface, not the class."""
    return all(callable(getattr(obj, hook, None))
               for hook in ("attribute", "rows_per_input", "postprocess"))


def is_method(obj):
    """Whether ``obj`` is a method instance (not a class)."""
    return not isinstance(obj, type) and _has_hooks(obj)


def get(method, /, **options):
    """A ``Method`` instance from an instance, a class or a registered name (an
    instance comes back as it is: resolve once, then pass the instance along)."""
    if is_method(method):
        if options:
            raise ValueError(
                "method: options were given together with a configured method "
                "instance; pass them to its constructor instead."
            )
        return method
    if isinstance(method, type) and _has_hooks(method):
        return _construct(method, options)
    if isinstance(method, str):
        return _construct(lookup(method), options)
    raise ValueError(
        f"method: expected a method name, a Method class or instance, got "
        f"{type(method).__name__}."
    )
