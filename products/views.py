"""Catalogue pages: the paged table (category filter, find by SKU or name prefix), the product page,
and create / edit / delete for managers and admins. Forms are checked by the API's own serializer,
so the rules and messages are the API's; writes go through products.services."""
from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse

from saas import limits
from saas.errors import AppError, NotFound
from saas.tenancy import tenant_context
from saas.tenancy.context import current_context
from saas.tenancy.store import VersionConflict
from tenants.web import active_role, can, cursor_of, form_data, pager, redirect, web_page

from . import catalogue_files, selectors, services
from .models import CATEGORY_PATTERN, CURRENCIES, public_product
from .serializers import ProductSerializer

FIELDS = ("sku", "name", "description", "price", "currency", "stock", "category")
CONFLICT = ("Nothing was saved: someone else saved this product while you were editing it. Reload to start from "
            "their version (your changes are still in the form below if you want to copy them).")


def _validate(request) -> tuple[dict | None, dict, dict]:
    """(validated fields or None, errors by field, the form as typed)."""
    data = form_data(request, fields=FIELDS, integers=("stock",), optional=("category", "description", "stock"))
    typed = {name: request.POST.get(name, "") for name in FIELDS}
    serializer = ProductSerializer(data=data)
    if serializer.is_valid():
        fields = dict(serializer.validated_data)
        fields.pop("version", None)
        return fields, {}, typed
    errors = {name: [str(e) for e in errs] for name, errs in serializer.errors.items()}
    return None, errors, typed


def _form_context(**extra) -> dict:
    return {"currencies": sorted(CURRENCIES), "fields_order": FIELDS, **extra}


@web_page(role="viewer")
def catalogue(request):
    category = request.GET.get("category", "").strip().lower()  # "Tea" is the tea category
    text = request.GET.get("q", "").strip()
    if category and not CATEGORY_PATTERN.fullmatch(category):
        messages.error(request, "Categories are lowercase words with hyphens, such as coffee or gift-cards.")
        category = ""
    sort = request.GET.get("sort", "name") if request.GET.get("sort") in selectors.SORTS else "name"
    result = None
    if text:
        number = int(request.GET["page"]) if request.GET.get("page", "").isdigit() and int(request.GET["page"]) > 0 else 1
        result = selectors.find_products(text=text, category=category or None, sort=sort,
                                         offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        products, links = result.products, _numbered_pager(request, number, result.count)
    else:
        page = selectors.list_products(category=category or None, cursor=cursor_of(request), limit=PAGE_SIZE,
                                       by_name=True)
        products, links = page.items, pager(request, page.next_cursor)
    return render(request, "products/catalogue.html", {
        "checklist": _first_steps() if can(active_role(current_context()), "admin") else None,
        "products": [_shown(p) for p in products], "pager": links, "category": category, "q": text,
        "result": result, "sort": sort, "sorts": SORT_LABELS,
    })


PAGE_SIZE = 20


def _first_steps() -> list[dict] | None:
    """A new tenant's checklist for its admins, from the plan quota counters (one batch read); None
    once every step is done."""
    used = {item["id"]: int(item.get("used", 0)) for item in
            limits.Quota.objects.batch_get(["products", "members", "webhook_subscriptions"]).values()}
    steps = [{"label": "Add a product", "done": used.get("products", 0) > 0, "url": reverse("product-new")},
             {"label": "Invite a teammate", "done": used.get("members", 0) > 1, "url": reverse("team")},
             {"label": "Add a webhook endpoint", "done": used.get("webhook_subscriptions", 0) > 0,
              "url": reverse("webhooks")}]
    return None if all(step["done"] for step in steps) else steps
SORT_LABELS = {"name": "Name, A to Z", "-name": "Name, Z to A", "price": "Price, lowest first",
               "-price": "Price, highest first"}


def _numbered_pager(request, number: int, count: int) -> dict:
    """Previous/next links for search results (all matches are known, so pages are numbered)."""
    def at(n: int) -> str:
        params = request.GET.copy()
        params["page"] = str(n)
        return "?" + params.urlencode()

    return {"number": number, "previous": at(number - 1) if number > 1 else None,
            "next": at(number + 1) if number * PAGE_SIZE < count else None}


def _shown(item: dict) -> dict:
    """A product as the pages show it: the API shape plus its short-lived image link."""
    return {**public_product(item), "image_url": services.image_url(item)}


@web_page(role="viewer")
def product_detail(request, product_id: str):
    item = selectors.get_product(product_id)
    upload = None
    if can(active_role(current_context()), "manager"):
        # The browser posts the file straight to S3; S3 sends it back to "attached" with our upload id.
        back = request.build_absolute_uri(reverse("product-image-attached", args=[product_id]))
        upload = services.start_image_upload(product_id=product_id, return_to=back)
    return render(request, "products/product.html", {"product": _shown(item), "upload": upload})


@web_page(role="manager", methods=("GET", "POST"))
def product_image_attached(request, product_id: str):
    """Where S3 sends the browser after an upload (a GET, which any site could also cause): a page
    asking to attach it. Only its form (POST, with the CSRF token) checks the file and attaches it
    (or says why not, deleting a bad file), so no cross-site navigation changes anything."""
    if request.method != "POST":
        return render(request, "products/image_attach.html", {
            "product": _shown(selectors.get_product(product_id)), "upload_id": request.GET.get("upload", "")})
    try:
        services.attach_image(product_id=product_id, upload_id=request.POST.get("upload", ""))
    except services.InvalidUpload as exc:
        messages.error(request, " ".join(str(m) for m in (exc.fields or {}).get("upload_id", [exc.message])))
    else:
        messages.success(request, "The image was uploaded and is now shown in the catalogue.")
    return redirect(request, reverse("product", args=[product_id]))


@web_page(role="manager", methods=("POST",))
def product_image_remove(request, product_id: str):
    services.remove_image(product_id=product_id)
    messages.success(request, "The image was removed.")
    return redirect(request, reverse("product", args=[product_id]))


@web_page(role="manager", methods=("GET", "POST"))
def product_new(request):
    form, errors = {"currency": "USD", "stock": "0"}, {}
    if request.method == "POST":
        fields, errors, form = _validate(request)
        if fields is not None:
            try:
                product = services.create_product(**fields)
            except services.DuplicateSku:
                errors = {"sku": ["Another product already has this SKU."]}
            else:
                messages.success(request, f"{product['name']} was added to the catalogue.")
                return redirect(request, reverse("product", args=[product["id"]]))
    return render(request, "products/product_form.html", _form_context(form=form, errors=errors, creating=True))


@web_page(role="manager", methods=("GET", "POST"))
def product_edit(request, product_id: str):
    product = public_product(selectors.get_product(product_id, consistent=True))
    form: dict[str, Any] = {**product, "category": product["category"] or ""}
    errors: dict[str, list[str]] = {}
    conflict, differences = False, []
    if request.method == "POST":
        fields, errors, form = _validate(request)
        form["version"] = request.POST.get("version", "")
        if fields is not None:
            try:
                version = int(request.POST.get("version", ""))
            except ValueError:
                version = -1  # no version: treat as stale rather than overwrite blindly
            try:
                updated = services.update_product(product_id=product_id, changes=fields, expected_version=version)
            except VersionConflict:
                conflict = True
                current = public_product(selectors.get_product(product_id, consistent=True))
                differences = [{"field": name, "theirs": current[name] if current[name] is not None else "—",
                                "yours": form.get(name) or "—"}
                               for name in FIELDS if str(current[name] if current[name] is not None else "")
                               != str(fields.get(name) if fields.get(name) is not None else "")]
            except services.DuplicateSku:
                errors = {"sku": ["Another product already has this SKU."]}
            else:
                messages.success(request, f"{updated['name']} was saved.")
                return redirect(request, reverse("product", args=[product_id]))
    return render(request, "products/product_form.html", _form_context(
        form=form, errors=errors, creating=False, product=product, conflict=conflict,
        conflict_message=CONFLICT, differences=differences))


@web_page(role="manager", methods=("GET", "POST"))
def product_delete(request, product_id: str):
    product = public_product(selectors.get_product(product_id, consistent=True))
    if request.method == "POST":
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = -1
        try:
            services.delete_product(product_id=product_id, expected_version=version)
        except VersionConflict:
            messages.error(request, "Someone else changed this product since you opened it, so it was not deleted. "
                                    "Check the current version below, then delete again if you still want to.")
            return redirect(request, reverse("product", args=[product_id]))
        messages.success(request, f"{product['name']} was deleted.")
        return redirect(request, reverse("catalogue"))
    return render(request, "products/product_delete.html", {"product": product})


# --- CSV export and import, bulk changes -------------------------------------------------------------
def _in_context(ctx, rows):
    """Rows of a streamed response: produced after the view returned (and the middleware reset the
    request's tenant context), so each is made inside the same context again, set explicitly."""
    iterator = iter(rows)
    while True:
        with tenant_context(ctx.tenant_id, user_id=ctx.user_id, roles=ctx.roles, tier=ctx.tier):
            try:
                row = next(iterator)
            except StopIteration:
                return
        yield row


class _Echo:
    def write(self, value: str) -> str:
        return value


@web_page(role="viewer")
def catalogue_export(request):
    writer = csv.writer(_Echo())
    rows = _in_context(current_context(), catalogue_files.export_rows())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="catalogue.csv"'
    return response


@web_page(role="manager", methods=("GET", "POST"))
def catalogue_import(request):
    check = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            check = catalogue_files.ImportCheck(file_problem="Choose a CSV file to import.")
        else:
            check = catalogue_files.check_import(upload.read(catalogue_files.MAX_BYTES + 1))
        if check.ok:
            try:
                created = services.create_products(products=check.rows)
            except services.DuplicateSku as exc:  # claimed meanwhile by someone else
                check.file_problem = f"Nothing more was imported: {exc.message}"
            except AppError as exc:  # the plan's product limit, the data store down
                check.file_problem = f"Nothing was imported: {exc.message}"
            else:
                messages.success(request, f"{len(created)} product{'s' if len(created) != 1 else ''} imported.")
                return redirect(request, reverse("catalogue"))
    return render(request, "products/import.html", {
        "check": check, "columns": catalogue_files.COLUMNS, "max_rows": catalogue_files.MAX_ROWS})


BULK_ACTIONS = {"delete": "Delete", "price": "Set the price to", "stock": "Set the stock to"}


def _apply_bulk(action: str, chosen: list[dict], changes: dict, posted) -> dict[str, list[str]]:
    """Each chosen product deleted or changed on its own; returns why -> the products it stopped."""
    failed: dict[str, list[str]] = {}
    for product in chosen:
        try:
            if action == "delete":
                services.delete_product(product_id=product["id"], expected_version=int(posted.get(
                    f"version-{product['id']}", product["version"])))
            else:
                services.update_product(product_id=product["id"], changes=changes)
        except VersionConflict:
            failed.setdefault("changed by someone else meanwhile", []).append(product["name"])
        except NotFound:
            failed.setdefault("deleted meanwhile", []).append(product["name"])
        except AppError as exc:  # a dependency down, a limit: the service's own words
            failed.setdefault(exc.message.rstrip("."), []).append(product["name"])
    return failed


@web_page(role="manager", methods=("POST",))
def catalogue_bulk(request):
    """Delete, or set the price or stock of, the selected products. Delete asks for confirmation;
    each product is changed on its own (version-checked), and the page says which were not."""
    ids = request.POST.getlist("selected")[:100]
    action = request.POST.get("action", "")
    if not ids or action not in BULK_ACTIONS:
        messages.error(request, "Select at least one product and an action.")
        return redirect(request, reverse("catalogue"))
    found = selectors.get_products(ids)
    chosen = [found[pid] for pid in ids if pid in found]
    value = request.POST.get("value", "").strip()
    changes: dict[str, Any] = {}
    if action in ("price", "stock"):
        data = {"price": value} if action == "price" else {"stock": int(value) if value.isdigit() else value}
        serializer = ProductSerializer(data=data, partial=True)
        if not value or not serializer.is_valid():
            problem = " ".join(str(e) for errors in serializer.errors.values() for e in errors) if value else ""
            messages.error(request, f"Nothing was changed: give a valid {action}. {problem}".strip())
            return redirect(request, reverse("catalogue"))
        changes = {action: serializer.validated_data[action]}
    elif request.POST.get("confirmed") != "yes":
        return render(request, "products/bulk_delete.html", {"products": [public_product(p) for p in chosen]})
    failed = _apply_bulk(action, chosen, changes, request.POST)
    done = len(chosen) - sum(len(names) for names in failed.values())
    verb = "deleted" if action == "delete" else "changed"
    if done:
        messages.success(request, f"{done} product{'s' if done != 1 else ''} {verb}.")
    for why, names in failed.items():
        messages.error(request, f"Not {verb} ({why}): {', '.join(names)}.")
    if gone := len(ids) - len(chosen):
        messages.error(request, f"{gone} selected product{' was' if gone == 1 else 's were'} deleted meanwhile.")
    return redirect(request, reverse("catalogue"))
