"""Options and resolution shared by the image- and pool-level command groups (rbd's spec rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..cli import AppContext
from ..errors import NotFoundError, SpecError
from ..output import check_pretty_format
from ..rbd_cli import rbd_step
from ..spec import DEFAULT_POOL, Spec, combine_spec, image_id
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


def image_spec_names(image_spec: str | None, pool: str | None, namespace: str | None, image: str | None) -> Spec:
    """The image an rbd image command names, checked as rbd checks it before it connects (relaxed spec)."""
    return combine_spec(image_spec, pool=pool, namespace=namespace, name=image, what="image name", relaxed=True)


def resolve_image(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                  image: str | None) -> tuple[Pool, str, str]:
    """(pool, image id, image name) for rbd's ``[<pool>/[<namespace>/]]<image>`` and options."""
    spec = image_spec_names(image_spec, pool, namespace, image)
    check_pretty_format()
    header_pool = open_pool(app, spec.pool, spec.namespace)
    with rbd_step(f"error opening image {spec.name}"):
        return header_pool, image_id(header_pool, spec.name), spec.name


def pool_spec_names(pool_spec: str | None, pool: str | None = None, namespace: str | None = None, *,
                    validate: bool = False, namespaces: bool = True) -> tuple[str, str]:
    """(pool, namespace) as rbd reads them (Utils.cc ``get_pool_and_namespace_names``), before it connects.

    ``-p/--pool`` is taken as given; else ``<pool-spec>`` is split at its last '/'
    into pool and namespace (whole, for a command without namespaces). Commands that
    change the pool (``validate``) refuse a '/' or '@' in the pool name; a namespace
    with either is refused always; an empty pool is ``rbd``.
    """
    name, ns = pool, namespace or ""
    if name is None:
        name = pool_spec or ""
        if namespaces and "/" in name:
            name, _, ns = name.rpartition("/")
    if validate and ("/" in name or "@" in name):
        raise SpecError(f"invalid pool '{name}'")
    if namespaces and ("/" in ns or "@" in ns):
        raise SpecError(f"invalid namespace '{ns}'")
    return name or DEFAULT_POOL, ns if namespaces else ""


def resolve_pool(app: AppContext, pool_spec: str | None, pool: str | None = None, namespace: str | None = None, *,
                 validate: bool = False, namespaces: bool = True) -> Pool:
    """The pool of ``<pool-spec>`` (``pool[/namespace]``) or ``-p/--pool``; default ``rbd``."""
    name, ns = pool_spec_names(pool_spec, pool, namespace, validate=validate, namespaces=namespaces)
    check_pretty_format()
    return open_pool(app, name, ns)


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
