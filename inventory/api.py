"""``GET /inventory`` of the seed."""

from django.http import HttpRequest, JsonResponse

from eventhub.http import api_view, int_param, limit_param, page_links, success

from .models import Product
from .selectors import product_list


def product_json(product: Product) -> dict:
    price = product.price
    return {
        "productId": product.product_id,
        "name": product.name,
        "stock": product.stock,
        "price": int(price) if price == price.to_integral_value() else float(price),
    }


@api_view("GET")
def inventory(request: HttpRequest) -> JsonResponse:
    limit = limit_param(request, default=100, maximum=1000)
    offset = int_param(request, "offset", default=0) or 0
    products = product_list()
    total = products.count()
    page = [product_json(p) for p in products[offset : offset + limit]]
    more = offset + limit < total
    return success(
        page,
        pagination={
            "limit": limit,
            "offset": offset,
            "total": total,
            "next": page_links(request, offset=offset + limit) if more else None,
        },
    )
