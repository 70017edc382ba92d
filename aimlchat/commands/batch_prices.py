"""Prices for `aimlchat batch`: the catalogue's, and --max-cost's demand that every model
the run may ask has one (a model without a price would make the budget silently
unlimited)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from aimlchat.api.catalog import Model
from aimlchat.batch.request import MostOut, Price, most_out, prices
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError, UsageError
from aimlchat.record import record


@record(frozen=True)
class Pricing:
    price: Price
    most_out: MostOut  # the catalogue's bound on a reply, for --max-cost's worst cases
    known: bool  # a catalogue at all: without one, no cost can be known

    @classmethod
    def of(cls, catalogue: list[Model], known: bool) -> Pricing:
        return cls(prices(catalogue), most_out(catalogue), known)


def _unpriced(price: Price, models: Collection[str]) -> list[str]:
    return sorted(model for model in set(models) if price(model, 1, 1) is None)


def _refuse(missing: list[str]) -> UsageError:
    return UsageError(
        f"--max-cost: the catalogue has no price for {', '.join(missing)}",
        hint="pick priced models (aimlchat models --pricing), or drop --max-cost",
    )


def load_prices(app: App, models: Collection[str], *, need: bool) -> Pricing:
    """Catalogue prices: the cached copy, else fetched once. With `need` (--max-cost),
    every one of `models` must have a price."""
    from aimlchat.api.catalog import load_catalogue

    catalogue = app.prices.models
    price = prices(catalogue)
    if catalogue and (not need or not _unpriced(price, models)):
        return Pricing.of(catalogue, True)
    try:
        client = app.client(need_key=False)
        listing = load_catalogue(client.get_models, app.models_cache(), app.notifier.warn)
        catalogue = listing.models
        if not listing.from_cache:  # beside the catalogue: the retirement feed, once a day
            app.lifecycle().refresh(client.get_deprecations)
    except AimlchatError as exc:
        if need:
            raise UsageError(f"--max-cost needs prices; {exc.message}") from None
        app.notifier.warn(f"no prices ({exc.message}); cost is left null")
        return Pricing.of(catalogue or [], bool(catalogue))
    pricing = Pricing.of(catalogue, True)
    missing = _unpriced(pricing.price, models) if need else []
    if missing:
        raise _refuse(missing)
    return pricing


def has_price(price: Price) -> Callable[[str], bool]:
    """For the runner: whether a model met mid-batch can be counted against --max-cost."""
    return lambda model: price(model, 1, 1) is not None
