"""The customer, vendor and payment lists as connections (invoices: `resolvers.types`,
whose customers and vendors list their own invoices too)."""

from __future__ import annotations

from gateway.lists.paging import ListRequest
from resolvers.connections import Connection, connection
from resolvers.context import Info
from resolvers.types import Customer, Payment, Vendor


async def customer_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Customer]:
    return await connection(info, request, first, after, Customer.of)


async def vendor_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Vendor]:
    return await connection(info, request, first, after, Vendor.of)


async def payment_connection(
    info: Info, request: ListRequest, first: int | None, after: str | None
) -> Connection[Payment]:
    return await connection(info, request, first, after, Payment.of)
