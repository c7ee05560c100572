"""``GET /inventory`` of the seed."""

from django.http import HttpRequest, JsonResponse

from eventhub.http import OffsetPage, api_view

from .selectors import product_json, product_list


@api_view("GET")
def inventory(request: HttpRequest) -> JsonResponse:
    return OffsetPage.of(request, default=100, maximum=1000).respond(product_list(), product_json)
