"""Which providers the sandbox serves: loaded from route modules, with prefixes, keys and caps derived."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType

from leadlake.sandbox.protocol import Provider, Request, Route
from leadlake.sandbox.routes import ROUTE_MODULES

RouteModule = ModuleType | str  # a route module, or its dotted name


def load(module: RouteModule) -> Provider:
    """The `PROVIDER` a route module exports (importing it first when given by name)."""
    mod = importlib.import_module(module) if isinstance(module, str) else module
    provider = getattr(mod, "PROVIDER", None)
    if not isinstance(provider, Provider):
        raise TypeError(f"route module {mod.__name__} must export PROVIDER = Provider(...)")
    return provider


class Registry:
    """Providers in dispatch order; immutable, so servers with different extras never see each other's."""

    def __init__(self, providers: Iterable[Provider]) -> None:
        self.providers: dict[str, Provider] = {}
        names: set[str] = set()
        for provider in providers:
            self._check(provider, names)
            self.providers[provider.name] = provider
            names.update(r.name for r in provider.routes)
        self.routes: tuple[Route, ...] = tuple(r for p in self.providers.values() for r in p.routes)
        self.prefixes: dict[str, str] = {p.prefix: p.name for p in self.providers.values()}
        self.keys: dict[str, str] = {p.name: p.key for p in self.providers.values() if p.key is not None}
        self.max_results: dict[str, int] = {
            p.name: p.max_results for p in self.providers.values() if p.max_results is not None
        }

    @classmethod
    def of(cls, modules: Iterable[RouteModule]) -> Registry:
        """A registry of the providers the given route modules export, in that order."""
        return cls(load(m) for m in modules)

    def extended(self, modules: Iterable[RouteModule]) -> Registry:
        """This registry plus the providers of more route modules (served after the existing ones)."""
        return Registry([*self.providers.values(), *(load(m) for m in modules)])

    def provider_for(self, path: str) -> Provider | None:
        """The provider whose prefix the path starts with."""
        return next((p for p in self.providers.values() if path.startswith(p.prefix)), None)

    def match(self, provider: Provider, req: Request) -> Route | None:
        """The provider's route for this method and path; fills `req.params` from the pattern."""
        for r in provider.routes:
            if r.method == req.method:
                m = r.pattern.match(req.path)
                if m:
                    req.params = m.groupdict()
                    return r
        return None

    def _check(self, provider: Provider, route_names: set[str]) -> None:
        # Ambiguity is a registration error: dispatch by prefix and stats by route name must stay unique.
        if not provider.name.isidentifier() or hasattr(Mapping, provider.name):
            raise ValueError(
                f"provider name {provider.name!r} must be an identifier usable as SandboxKeys().name"
            )
        if provider.name in self.providers:
            raise ValueError(f"provider {provider.name!r} is already registered")
        for other in self.providers.values():
            if provider.prefix.startswith(other.prefix) or other.prefix.startswith(provider.prefix):
                raise ValueError(f"prefix {provider.prefix!r} overlaps {other.name}'s {other.prefix!r}")
        if provider.prefix.startswith("/_sandbox"):
            raise ValueError("/_sandbox/ is reserved for the sandbox's admin routes")
        for r in provider.routes:
            if r.name in route_names:
                raise ValueError(f"route name {r.name!r} is already registered")
            if r.provider != provider.name:
                raise ValueError(f"route {r.name!r} belongs to {r.provider!r}, not {provider.name!r}")


@functools.cache
def builtin() -> Registry:
    """The providers listed in leadlake.sandbox.routes.ROUTE_MODULES."""
    return Registry.of(ROUTE_MODULES)


class SandboxKeys(Mapping[str, str]):
    """The credentials the sandbox accepts, one per registered provider (fake; printing them is fine).

    Read as attributes (`SandboxKeys().yelp`) or as a mapping; keyword arguments override defaults.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[str, str] | None = None, /, **overrides: str) -> None:
        defaults = builtin().keys if keys is None else keys
        object.__setattr__(self, "_keys", {**defaults, **overrides})

    def __getattr__(self, name: str) -> str:
        keys: dict[str, str] = object.__getattribute__(self, "_keys")
        try:
            return keys[name]
        except KeyError:
            raise AttributeError(f"no sandbox key for provider {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SandboxKeys is immutable; pass overrides to the constructor")

    def __getitem__(self, name: str) -> str:
        return self._keys[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __hash__(self) -> int:
        return hash(frozenset(self._keys.items()))

    def __repr__(self) -> str:
        return "SandboxKeys(" + ", ".join(f"{k}={v!r}" for k, v in self._keys.items()) + ")"

    def __reduce__(self) -> tuple[type[SandboxKeys], tuple[dict[str, str]]]:
        return SandboxKeys, (dict(self._keys),)
