"""Order pages: my orders (or all, for managers and admins), the cart (a search-as-you-type product
picker, the chosen lines with quantities, a live total, stock errors per line and a review step
before placing; its weight does not grow with the catalogue), the order page whose status updates itself while the order moves, and
cancel with confirmation. Calls orders.services / orders.selectors exactly as the API does."""
from __future__ import annotations

import csv
import uuid
from datetime import date, datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse

from products import selectors as products
from products.models import public_product
from saas import web
from saas.errors import AppError, Conflict
from saas.tenancy import tenant_context
from saas.tenancy.context import current_context
from tenants.web import cursor_of, pager, people, redirect, web_page

from . import selectors, services
from .models import CANCELLABLE_STATUSES, OPEN_STATUSES, STATUSES, public_order
from .serializers import MAX_LINES, MAX_QUANTITY, OrderCreateSerializer

STEPS = ("pending", "confirmed", "fulfilled")


def _line_errors(errors: dict, lines: list[dict]) -> dict[str, str]:
    """The serializer's per-line errors keyed by product id."""
    by_product: dict[str, str] = {}
    raw = errors.get("lines")
    items = raw.items() if isinstance(raw, dict) else enumerate(raw) if isinstance(raw, list) else ()
    for index, problem in items:
        if str(index).isdigit() and int(index) < len(lines) and problem and isinstance(problem, dict):
            by_product[lines[int(index)]["product_id"]] = " ".join(web.flatten(problem))
    return by_product


def _status_context(order: dict) -> dict:
    reached = STEPS.index(order["status"]) if order["status"] in STEPS else -1
    return {
        "order": order, "steps": STEPS, "reached": reached,
        "open": order["status"] in OPEN_STATUSES,
        "cancellable": order["status"] in CANCELLABLE_STATUSES,
    }


def _filter_from(request) -> tuple[selectors.OrderFilter, dict[str, str]]:
    """The list's filter from the query string, and the values the form shows. A value that does not
    parse is dropped with a message rather than failing the page."""
    status = request.GET.get("status", "")
    if status and status not in STATUSES:
        messages.error(request, f"“{status}” is not an order status; showing every status.")
        status = ""
    days = {}
    for name in ("since", "until"):
        raw = request.GET.get(name, "").strip()
        try:
            days[name] = date.fromisoformat(raw) if raw else None
        except ValueError:
            messages.error(request, f"“{raw}” is not a date (use the date picker, or YYYY-MM-DD).")
            days[name] = None
    if days["since"] and days["until"] and days["since"] > days["until"]:
        days["since"], days["until"] = days["until"], days["since"]
    sort = "oldest" if request.GET.get("sort") == "oldest" else "newest"
    where = selectors.OrderFilter(status=status or None, since=days["since"], until=days["until"],
                                  newest_first=sort == "newest")
    shown = {"status": status, "since": days["since"].isoformat() if days["since"] else "",
             "until": days["until"].isoformat() if days["until"] else "", "sort": sort}
    return where, shown


def _rows(items: list[dict]) -> list[dict]:
    """Orders as the list shows them, each with who placed it (one batch read of the members)."""
    orders = [public_order(o) for o in items]
    names = people(o["user_id"] for o in orders)
    return [{**o, "placed_by": names.get(o["user_id"], ""), "placed_at": _when(o["created_at"])} for o in orders]


def _when(iso: str | None) -> dict:
    """A timestamp for people: a readable UTC text (the page's script shows it in the reader's own
    time zone) plus the exact instant for ``<time datetime>``."""
    if not iso:
        return {"iso": "", "text": ""}
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return {"iso": iso, "text": moment.strftime("%-d %b %Y, %H:%M UTC")}


@web_page(role="viewer")
def orders(request):
    where, shown = _filter_from(request)
    page = selectors.list_orders(cursor=cursor_of(request), limit=20, where=where)
    filtered = any(shown[name] for name in ("status", "since", "until"))
    return render(request, "orders/orders.html", {
        "orders": _rows(page.items), "pager": pager(request, page.next_cursor),
        "all_orders": selectors.sees_all_orders(), "statuses": STATUSES, "shown": shown, "filtered": filtered,
        "export_query": urlencode({k: v for k, v in shown.items() if v}),
    })


CSV_COLUMNS = ("order", "placed_at_utc", "placed_by", "status", "items", "total", "currency")


@web_page(role="manager")
def orders_csv(request):
    """Every order the list's filter selects, as CSV, read page by page while it streams."""
    where, _ = _filter_from(request)
    ctx = current_context()

    def rows():
        # The body streams after the view has returned and the middleware has reset the request's
        # tenant context: each page is read inside the same context again, set explicitly.
        yield CSV_COLUMNS
        cursor = None
        while True:
            with tenant_context(ctx.tenant_id, user_id=ctx.user_id, roles=ctx.roles, tier=ctx.tier):
                page = selectors.list_orders(cursor=cursor, limit=100, where=where)
                shown = _rows(page.items)
            for o in shown:
                yield (o["id"], o["created_at"], o["placed_by"] or f"former member {o['user_id']}", o["status"],
                       "; ".join(f"{line['quantity']} x {line['sku']} {line['name']}" for line in o["lines"]),
                       o["total"], o["currency"])
            cursor = page.next_cursor
            if not cursor:
                return

    buffer = _Echo()
    writer = csv.writer(buffer)
    response = StreamingHttpResponse((writer.writerow(row) for row in rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="orders.csv"'
    return response


class _Echo:
    """csv.writer's file: hands each formatted row straight back (streamed, nothing buffered)."""

    def write(self, value: str) -> str:
        return value


PICKER_LIMIT = 10


def _cart_lines(request, *, add: str = "", remove: str = "") -> list[dict]:
    """The cart as the form holds it (``qty-<id>`` fields, in the order they were added), with a
    product added (one more if it is already there) or removed. Empty boxes stay in the cart at 0."""
    lines: list[dict] = []
    for name, value in request.POST.items():
        if name.startswith("qty-") and name[4:] != remove:
            value = value.strip()
            lines.append({"product_id": name[4:], "quantity": int(value) if value.lstrip("-").isdigit() else value})
    if add and add != remove:
        for line in lines:
            if line["product_id"] == add:
                line["quantity"] = line["quantity"] + 1 if isinstance(line["quantity"], int) else 1
                break
        else:
            lines.append({"product_id": add, "quantity": 1})
    return lines[:MAX_LINES]


def _orderable(lines: list[dict]) -> list[dict]:
    """The lines that can be priced now (a whole quantity above zero), for the live total."""
    return [line for line in lines if isinstance(line["quantity"], int) and line["quantity"] > 0]


def _submitted(lines: list[dict]) -> list[dict]:
    """The lines someone asked for: all but empty boxes and zeros. Text that is not a whole number
    stays, so the API's validation names its line."""
    return [line for line in lines if line["quantity"] not in (0, "")]


def _cart_context(lines: list[dict], *, line_errors: dict | None = None, form_error: str = "",
                  idempotency_key: str = "") -> dict:
    """The cart's rows (each with its product, read in one batch) and the live quote."""
    found = products.get_products([line["product_id"] for line in lines]) if lines else {}
    rows = [{"product": public_product(found[line["product_id"]]), "quantity": line["quantity"],
             "error": (line_errors or {}).get(line["product_id"], "")}
            for line in lines if line["product_id"] in found]
    return {"rows": rows, "form_error": form_error, "max_quantity": MAX_QUANTITY, "max_lines": MAX_LINES,
            "idempotency_key": idempotency_key or uuid.uuid4().hex, "quote": _quote(_orderable(lines))}


def _picker_context(text: str) -> dict:
    """Up to ``PICKER_LIMIT`` products for the picker: matches for ``text`` (words anywhere in the
    name, or a SKU prefix: ``products.selectors.find_products``), else the first by name."""
    text = text.strip()[:100]
    if text:
        found = products.find_products(text=text, limit=PICKER_LIMIT, count=False).products
    else:
        found = products.list_products(limit=PICKER_LIMIT, by_name=True).items
    return {"results": [public_product(p) for p in found], "q": text}


def _check(lines: list[dict]) -> tuple[list[dict] | None, dict[str, str], str]:
    """(the API's validated lines or None, errors by product id, the form's error)."""
    lines = _submitted(lines)
    if not lines:
        return None, {}, "Add at least one product with a quantity of 1 or more."
    serializer = OrderCreateSerializer(data={"lines": lines})
    if not serializer.is_valid():
        return None, _line_errors(serializer.errors, lines), "Please correct the lines marked below."
    return serializer.validated_data["lines"], {}, ""


def _problems(exc: AppError, lines: list[dict]) -> tuple[dict[str, str], str]:
    """Why placing or reviewing failed: per line where the error names one, else for the form."""
    if isinstance(exc, services.InsufficientStock):
        return ({short["product_id"]: f"Only {short['available']} in stock; you asked for {short['requested']}."
                 for short in exc.extra.get("lines", [])}, "Some lines are short of stock; nothing was ordered.")
    line_errors = _line_errors(exc.fields or {}, lines)
    return line_errors, exc.message if line_errors or not exc.fields else " ".join(web.flatten(exc.fields))


@web_page(role="member", methods=("GET", "POST"))
def order_new(request):
    """The cart. POST ``action``: ``review`` (the form's default button, so Enter in a box reviews and
    never places), ``place`` (from the review page), ``edit`` (back from review); ``add``/``remove``
    work without JavaScript too (htmx posts them to ``order_cart`` instead)."""
    if request.method == "GET":
        lines = [{"product_id": request.GET["product"], "quantity": 1}] if request.GET.get("product") else []
        return render(request, "orders/order_new.html", {
            **_cart_context(lines), **_picker_context(request.GET.get("q", ""))})
    action = request.POST.get("action", "review")
    lines = _cart_lines(request, add=request.POST.get("add", ""), remove=request.POST.get("remove", ""))
    key = request.POST.get("idempotency_key", "")
    if action in ("review", "place") and not request.POST.get("add") and not request.POST.get("remove"):
        valid, line_errors, form_error = _check(lines)
        if valid is not None:
            try:
                if action == "place":
                    placed = services.place_order(lines=valid, idempotency_key=key or None)
                else:
                    quote = services.quote_order(lines=valid)
            except AppError as exc:  # short of stock, unknown product, mixed currencies, broker down
                line_errors, form_error = _problems(exc, _submitted(lines))
            else:
                if action == "place":
                    messages.success(request, "Your order was placed. This page follows it as it moves.")
                    return redirect(request, reverse("order", args=[placed.order["id"]]))
                return render(request, "orders/order_review.html", {
                    "quote": quote, "lines": valid, "idempotency_key": key or uuid.uuid4().hex})
        return render(request, "orders/order_new.html", {
            **_cart_context(lines, line_errors=line_errors, form_error=form_error, idempotency_key=key),
            **_picker_context("")})
    return render(request, "orders/order_new.html", {**_cart_context(lines, idempotency_key=key),
                                                     **_picker_context("")})


@web_page(role="member", methods=("POST",))
def order_cart(request):
    """The cart alone, after htmx adds or removes a product."""
    lines = _cart_lines(request, add=request.POST.get("add", ""), remove=request.POST.get("remove", ""))
    return render(request, "orders/_cart.html", _cart_context(
        lines, idempotency_key=request.POST.get("idempotency_key", "")))


@web_page(role="member")
def order_picker(request):
    """The picker's results as the person types (htmx)."""
    return render(request, "orders/_picker_results.html", _picker_context(request.GET.get("q", "")))


def _quote(lines: list[dict]) -> dict:
    if not lines:
        return {"empty": True}
    try:
        return services.quote_order(lines=lines)
    except services.InsufficientStock as exc:
        return {"problem": "Not enough stock for: " + ", ".join(
            f"{s['requested']} requested, {s['available']} available" for s in exc.extra.get("lines", []))}
    except AppError as exc:
        return {"problem": " ".join(web.flatten(exc.fields)) if exc.fields else exc.message}


@web_page(role="member", methods=("POST",))
def order_quote(request):
    """The cart's total, recomputed by htmx as quantities change."""
    return render(request, "orders/_quote.html", {"quote": _quote(_orderable(_cart_lines(request)))})


@web_page(role="viewer")
def order_detail(request, order_id: str):
    order = public_order(selectors.get_order(order_id))
    return render(request, "orders/order.html", {**_status_context(order), "all_statuses": STATUSES,
                                                 "placed_at": _when(order["created_at"])})


@web_page(role="viewer")
def order_status(request, order_id: str):
    """The status panel alone; htmx polls it while the order is open and stops at a final status."""
    order = public_order(selectors.get_order(order_id, consistent=True))
    return render(request, "orders/_status.html", _status_context(order))


@web_page(role="member", methods=("GET", "POST"))
def order_cancel(request, order_id: str):
    order = public_order(selectors.get_order(order_id, consistent=True))
    if request.method == "POST":
        try:
            services.cancel_order(order_id=order_id)
        except Conflict as exc:
            messages.error(request, f"It could not be cancelled: {exc.message}")
        else:
            messages.success(request, "The order was cancelled and its stock released.")
        return redirect(request, reverse("order", args=[order_id]))
    if order["status"] not in CANCELLABLE_STATUSES:
        messages.info(request, f"This order is {order['status']}; it can no longer be cancelled.")
        return redirect(request, reverse("order", args=[order_id]))
    return render(request, "orders/order_cancel.html", {"order": order})
