"""The read-only retail tools (lookups, details, calculator, transfer) and the entity lookups.

Contract: these tools never change the database. Details tools return ``json.dumps`` of the entity as
stored (the db.json shape, plus whatever fields earlier writes added, such as ``cancel_reason``);
``find_user_id_*`` return the bare user id; a missing entity is a refusal ("Error: User not found"
etc., tau2's messages). Names and emails are matched case- and accent-insensitively, as tau2 does
(a caller who spells "Vazquez" means "Vázquez"); the zip code must match exactly.

The ``get_*`` functions at module level are the lookups the write tools share; they raise ``Refusal``.
"""
# No ``from __future__ import annotations`` here: the tool signatures keep real annotation objects,
# so ``inspect.signature`` shows ``Annotated[str, Identifier("order")]`` without string evaluation.
import json
import re
import unicodedata
from typing import Any

from ._calculator import evaluate
from ._calling import Refusal, tool
from ._ids import Email, ItemId, OrderId, PersonName, ProductId, UserId, Zip
from ._sqlite import Database

__all__ = ["ReadTools", "get_order", "get_user", "get_product", "get_variant", "get_payment_method", "product_of_item",
           "says"]

# tau2's fixed answer to a transfer; the policy then has the agent tell the user to hold on.
TRANSFER_MESSAGE = "Transfer successful"


def get_order(db: Database, order_id: str) -> dict[str, Any]:
    order = db.get("orders", order_id)
    if order is None:
        raise Refusal("Order not found")
    return order


def get_user(db: Database, user_id: str) -> dict[str, Any]:
    user = db.get("users", user_id)
    if user is None:
        raise Refusal("User not found")
    return user


def get_product(db: Database, product_id: str) -> dict[str, Any]:
    product = db.get("products", product_id)
    if product is None:
        raise Refusal("Product not found")
    return product


def get_variant(db: Database, product_id: str, item_id: str) -> dict[str, Any]:
    """The variant ``item_id`` of product ``product_id``: an item of another product is "not found"."""
    variants = get_product(db, product_id)["variants"]
    if item_id not in variants:
        raise Refusal("Variant not found")
    return variants[item_id]


def product_of_item(db: Database, item_id: str) -> dict[str, Any] | None:
    """The catalogue product one of whose variants is ``item_id``; None when no product has it."""
    return next((product for _, product in db.items("products") if item_id in (product.get("variants") or {})), None)


def get_payment_method(user: dict[str, Any], payment_method_id: str) -> dict[str, Any]:
    """The payment method ``payment_method_id`` of ``user``; one of another user is "not found"."""
    methods = user["payment_methods"]
    if payment_method_id not in methods:
        raise Refusal("Payment method not found")
    return methods[payment_method_id]


def says(text: str, phrase: str) -> bool:
    """``phrase`` as whole words in ``text`` (both lower-case), a trailing plural "s" allowed."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}s?(?![\w-])", text) is not None


def _fold(text: str) -> str:
    # NFKD splits "á" into "a" + combining accent; dropping the combining marks and casefolding gives
    # the spelling a caller can actually say or type.
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


class ReadTools:
    """Mixin: the tools that only read. Needs ``self._db``, a ``Database``."""

    _db: Database

    @tool
    def find_user_id_by_email(self, email: Email) -> str:
        """Find user id by email. If the user is not found, the function will return an error message.

        Args:
            email: The email of the user, such as 'something@example.com'.
        """
        wanted = _fold(email)
        for user_id, user in self._db.items("users"):
            if _fold(user["email"]) == wanted:
                return user_id
        raise Refusal("User not found")

    @tool
    def find_user_id_by_name_zip(self, first_name: PersonName, last_name: PersonName, zip: Zip) -> str:
        """Find user id by first name, last name, and zip code; use it only if the user is not found by email.

        If the user is not found, the function will return an error message.

        Args:
            first_name: The first name of the customer, such as 'John'.
            last_name: The last name of the customer, such as 'Doe'.
            zip: The zip code of the customer, such as '12345'.
        """
        first, last = _fold(first_name), _fold(last_name)
        for user_id, user in self._db.items("users"):
            name = user["name"]
            if (
                _fold(name["first_name"]) == first
                and _fold(name["last_name"]) == last
                and user["address"]["zip"] == zip  # exact: the zip is the real verification factor
            ):
                return user_id
        raise Refusal("User not found")

    @tool
    def get_user_details(self, user_id: UserId) -> str:
        """Get the details of a user, including their orders.

        Args:
            user_id: The user id, such as 'sara_doe_496'.
        """
        return json.dumps(get_user(self._db, user_id))

    @tool
    def get_order_details(self, order_id: OrderId) -> str:
        """Get the status and details of an order.

        Args:
            order_id: The order id, such as '#W0000000'. Be careful there is a '#' symbol at the beginning of the order id.
        """
        return json.dumps(get_order(self._db, order_id))

    @tool
    def get_product_details(self, product_id: ProductId) -> str:
        """Get the inventory details of a product.

        Args:
            product_id: The product id, such as '6086499569'. Be careful the product id is different from the item id.
        """
        return json.dumps(get_product(self._db, product_id))

    @tool
    def get_item_details(self, item_id: ItemId) -> str:
        """Get the inventory details of an item.

        Args:
            item_id: The item id, such as '6086499569'. Be careful the item id is different from the product id.
        """
        product = product_of_item(self._db, item_id)
        if product is None:
            raise Refusal("Item not found")
        return json.dumps(product["variants"][item_id])

    @tool
    def list_all_product_types(self) -> str:
        """List the name and product id of all product types.

        Each product type has a variety of different items with unique item ids and options.
        There are only 50 product types in the store. Returns a JSON object mapping product names to
        their product ids, sorted alphabetically by name.
        """
        names = {product["name"]: product_id for product_id, product in self._db.items("products")}
        return json.dumps(names, sort_keys=True)

    @tool
    def calculate(self, expression: str) -> str:
        """Calculate the result of a mathematical expression.

        Args:
            expression: The mathematical expression to calculate, such as '2 + 2'. The expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.
        """
        try:
            return evaluate(expression)
        except ValueError as exc:
            raise Refusal(str(exc)) from None

    @tool
    def transfer_to_human_agents(self, summary: str) -> str:
        """Transfer the user to a human agent, with a summary of the user's issue.

        Only transfer if the user explicitly asks for a human agent, or if given the policy and the
        available tools you cannot solve the user's issue.

        Args:
            summary: A summary of the user's issue.
        """
        return TRANSFER_MESSAGE
