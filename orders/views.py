"""Order pages: my orders (or all, for managers and admins), place an order with a live total and
stock errors per line, the order page whose status updates itself while the order moves, and
cancel with confirmation. Calls orders.services / orders.selectors exactly as the API does."""
from __future__ import annotations

import uuid

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse

from products import selectors as products
from products.models import public_product
from saas import web
from saas.errors import AppError, Conflict
from tenants.web import cursor_of, pager, redirect, web_page

from . import selectors, services
from .models import CANCELLABLE_STATUSES, OPEN_STATUSES, STATUSES, public_order
from .serializers import MAX_QUANTITY, OrderCreateSerializer

STEPS = ("pending", "confirmed", "fulfilled")


def _lines_from(request) -> list[dict]:
    """``qty-<product id>`` fields with a quantity above zero, as the API's ``lines``. Text that is not
    a whole number is passed on as text so the API's validation names the line."""
    lines = []
    for name, value in request.POST.items():
        if not name.startswith("qty-") or not value.strip() or value.strip() == "0":
            continue
        value = value.strip()
        lines.append({"product_id": name[4:], "quantity": int(value) if value.lstrip("-").isdigit() else value})
    return lines


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


@web_page(role="viewer")
def orders(request):
    page = selectors.list_orders(cursor=cursor_of(request), limit=20)
    return render(request, "orders/orders.html", {
        "orders": [public_order(o) for o in page.items], "pager": pager(request, page.next_cursor),
        "all_orders": selectors.sees_all_orders(),
    })


@web_page(role="member", methods=("GET", "POST"))
def order_new(request):
    page = products.list_products(limit=100, by_name=True)
    catalogue = [public_product(p) for p in page.items]
    quantities = {pid: "1" for pid in [request.GET.get("product", "")] if pid}
    line_errors: dict[str, str] = {}
    form_error = ""
    if request.method == "POST":
        lines = _lines_from(request)
        quantities = {line["product_id"]: str(line["quantity"]) for line in lines}
        serializer = OrderCreateSerializer(data={"lines": lines})
        if not lines:
            form_error = "Choose a quantity for at least one product."
        elif not serializer.is_valid():
            line_errors = _line_errors(serializer.errors, lines)
            form_error = "Please correct the lines marked below."
        else:
            try:
                placed = services.place_order(lines=serializer.validated_data["lines"],
                                              idempotency_key=request.POST.get("idempotency_key") or None)
            except services.InsufficientStock as exc:
                for short in exc.extra.get("lines", []):
                    line_errors[short["product_id"]] = (f"Only {short['available']} in stock; you asked for "
                                                        f"{short['requested']}.")
                form_error = "Some lines are short of stock; nothing was ordered."
            except AppError as exc:  # unknown product, mixed currencies, broker down: shown on the form
                line_errors = _line_errors(exc.fields or {}, lines)
                form_error = exc.message if line_errors or not exc.fields else " ".join(web.flatten(exc.fields))
            else:
                messages.success(request, "Your order was placed. This page follows it as it moves.")
                return redirect(request, reverse("order", args=[placed.order["id"]]))
    rows = [{"product": p, "quantity": quantities.get(p["id"], ""), "error": line_errors.get(p["id"], "")}
            for p in catalogue]
    return render(request, "orders/order_new.html", {
        "rows": rows, "form_error": form_error, "idempotency_key": uuid.uuid4().hex, "max_quantity": MAX_QUANTITY,
        "quote": _quote([{"product_id": pid, "quantity": int(q)} for pid, q in quantities.items()
                         if str(q).isdigit() and int(q) > 0]),
        "more": page.next_cursor is not None,
    })


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
    """The order form's summary, recomputed by htmx as quantities change."""
    lines = [line for line in _lines_from(request) if isinstance(line["quantity"], int) and line["quantity"] > 0]
    return render(request, "orders/_quote.html", {"quote": _quote(lines)})


@web_page(role="viewer")
def order_detail(request, order_id: str):
    order = public_order(selectors.get_order(order_id))
    return render(request, "orders/order.html", {**_status_context(order), "all_statuses": STATUSES})


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
