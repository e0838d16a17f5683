"""Options and resolution shared by the image- and pool-level command groups (rbd's spec rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..cli import AppContext
from ..errors import NotFoundError
from ..output import check_pretty_format
from ..rbd_cli import rbd_step
from ..spec import DEFAULT_POOL, combine_spec, image_id
from ..store.base import Pool

F = TypeVar("F", bound=Callable[..., Any])


def image_spec_options(func: F) -> F:
    """``-p/--pool``, ``--namespace``, ``--image`` (the positional ``<image-spec>`` is the command's)."""
    func = click.option("--image", metavar="IMAGE", help="Image name.")(func)
    func = click.option("--namespace", metavar="NS", help="Namespace name.")(func)
    return click.option("-p", "--pool", metavar="POOL", help="Pool name.")(func)


def image_options(func: F) -> F:
    """An optional positional ``<image-spec>`` plus :func:`image_spec_options`."""
    return click.argument("image_spec", metavar="<image-spec>", required=False)(image_spec_options(func))


def resolve_image(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                  image: str | None) -> tuple[Pool, str, str]:
    """(pool, image id, image name) for rbd's ``[<pool>/[<namespace>/]]<image>`` and options."""
    spec = combine_spec(image_spec, pool=pool, namespace=namespace, name=image, what="image name")
    check_pretty_format()
    header_pool = open_pool(app, spec.pool, spec.namespace)
    with rbd_step(f"error opening image {spec.name}"):
        return header_pool, image_id(header_pool, spec.name), spec.name


def resolve_pool(app: AppContext, pool_spec: str | None, pool: str | None = None, namespace: str | None = None) -> Pool:
    """The pool of ``<pool-spec>`` (``pool[/namespace]``) or ``-p/--pool``; default ``rbd``."""
    name = pool or pool_spec or DEFAULT_POOL
    if "/" in name:
        name, _, namespace = name.partition("/")
    check_pretty_format()
    return open_pool(app, name, namespace or "")


def open_pool(app: AppContext, name: str, namespace: str = "") -> Pool:
    """The pool (and registered namespace) ``name``; run as rbd, a missing one fails as rbd's does."""
    with rbd_step(f"error opening pool '{name}'"):
        return _check_namespace(app.store().pool(name, namespace))


def _check_namespace(pool: Pool) -> Pool:
    """rbd refuses a namespace that ``rbd namespace create`` did not register (in ``rbd_namespace``)."""
    if not pool.namespace:
        return pool
    try:
        registered = bool(pool.with_namespace("").omap_get("rbd_namespace", [f"name_{pool.namespace}"]))
    except NotFoundError:  # no namespace at all; a directory store may hold only a journal's objects
        registered = not hasattr(pool.store, "cluster")
    if not registered:
        raise NotFoundError(f"namespace '{pool.namespace}' does not exist.")
    return pool
