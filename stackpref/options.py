"""Click options made from a config dataclass, as TRL's `TrlParser` makes flags from its configs: each
option's help, default, type and choices live once, in the dataclass, and `build`, `train sft|dpo` and
`eval` all read them from there.

A flag that is not given passes None, never the dataclass default, so the values of a config file or
recipe underneath show through (flags override them); only the help shows the default.

Field metadata read here (only `help` is required):
    help           what the option does
    choices        the values allowed (click refuses others with exit code 2)
    aliases        more names for the flag, e.g. ("-o",)
    metavar        how the help names the value
    parse          text -> value, for a type click cannot name (`--split sft=0.4,...` -> dict)
    flag           a bool that is only ever switched on: a plain `--x`, with no `--no-x`
    shown_default  the default to show when the field's own is a placeholder filled in __post_init__
"""

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable

import click


def config_options(cls: type, *, only: Iterable[str] | None = None, skip: Iterable[str] = ()) -> Callable:
    """A decorator adding one option per field of the dataclass `cls`, in field order: every field, or
    those named in `only`, less those in `skip`. A name that is not a field is an error, so a renamed
    field cannot silently drop its flag."""
    names = [f.name for f in dataclasses.fields(cls)]
    only, skip = (names if only is None else list(only)), set(skip)
    unknown = sorted((set(only) | skip) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name in only and f.name not in skip]

    def decorate(command: Callable) -> Callable:
        for f in reversed(fields):  # click lists options in the order they decorate, bottom-up
            command = _option(f, hints[f.name])(command)
        return command

    return decorate


def shown_default(f: dataclasses.Field) -> str | None:
    """The field's default as the help shows it (None: nothing to show), written as one would type it."""
    value, dashed = f.metadata.get("shown_default", f.default), f.name.replace("_", "-")
    if value is None or value is dataclasses.MISSING or value in ((), []):
        return None
    if isinstance(value, bool):  # named by the flag that gives it, as click does
        return dashed if value else (None if f.metadata.get("flag") else f"no-{dashed}")
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, str) and (value != value.strip() or not value.isprintable()):
        return repr(value)  # quoted and escaped, so newlines and trailing spaces show
    return str(value)


def _option(f: dataclasses.Field, annotation) -> Callable:
    meta = f.metadata
    flag = "--" + f.name.replace("_", "-")
    kind, multiple = _base_type(annotation)
    decls, kwargs = [flag], {"default": None, "metavar": meta.get("metavar")}
    if "parse" in meta:
        kwargs["type"] = meta["parse"]  # click calls it; a ValueError it raises is a usage error (exit 2)
    elif "choices" in meta:
        kwargs["type"] = click.Choice(meta["choices"])
    elif kind is bool and meta.get("flag"):
        kwargs["is_flag"] = True
    elif kind is bool:
        decls = [f"{flag}/--no-{flag[2:]}"]
    elif kind in (int, float, str):
        kwargs["type"] = kind
    else:
        raise TypeError(f"{f.name}: click has no type for {annotation}; give the field metadata['parse']")
    if multiple:
        kwargs.update(multiple=True, callback=_list_or_none)
    shown = shown_default(f)
    help_text = meta["help"] + (f"  [default: {shown}]" if shown else "")  # the layout click gives its own
    return click.option(*decls, *meta.get("aliases", ()), f.name, help=help_text, **kwargs)


def _base_type(annotation) -> tuple[type, bool]:
    """(element type, whether the flag repeats) of an annotation such as `int | None` or `list[str]`."""
    if isinstance(annotation, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], True
    return annotation, False


def _list_or_none(ctx: click.Context, param: click.Parameter, value: tuple) -> list | None:
    """A repeated flag gives a list, or None when it was not given (click's default is an empty tuple)."""
    return list(value) or None
