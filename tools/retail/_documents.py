"""The retail domain's documents for retrieval: the policy, the product catalogue and the FAQ.

``retail_documents(data_dir) -> list[Document]`` reads ``DATA_DIR/policy.md`` and ``DATA_DIR/db.json``
(the tau2 retail data, never copied into this package) and the packaged ``faq.md``:

- ``policy.md``: the policy as it is; its passages are its sections (``policy.md#Cancel pending order``);
- ``catalog.md``: one ``## <product name>`` section per product (``catalog.md#T-Shirt``): the product id,
  its option names, then one line per variant (option values, price, availability). Item ids are
  left out: they are for tools, not for reading, and only add noise to the embedding;
- ``faq.md``: customer questions and answers in plain words (``faq.md#How long does a refund take?``).

Products are sorted by name and variants by their options, so the same db gives the same text (and the
index re-embeds only products whose text changed). A missing or malformed file raises
``AgentSpecError`` naming it.

Not here: indexing and search (``agentspec.memory.documents``), questions about the documents (evals).
"""
from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from agentspec.errors import AgentSpecError
from agentspec.memory.documents import Document

__all__ = ["retail_documents", "shop_documents", "catalog_markdown", "faq_markdown", "variant_line"]

_HINT = "Pass --data pointing at the tau2 retail data folder (with policy.md and db.json), e.g. ../shared/data/tau2-retail."


def faq_markdown() -> str:
    """The packaged FAQ (``faq.md``)."""
    return (files("agentspec.tools.retail") / "faq.md").read_text(encoding="utf-8")


def variant_line(variant: dict[str, Any]) -> str:
    """``- blue, M, cotton, crew neck: $50.88, available`` (option values in the product's order)."""
    values = ", ".join(str(v) for v in variant.get("options", {}).values())
    state = "available" if variant.get("available") else "not available"
    return f"- {values}: ${float(variant['price']):.2f}, {state}"


def _product_section(product: dict[str, Any]) -> str:
    variants = sorted(product.get("variants", {}).values(), key=lambda v: variant_line(v))
    option_names = list(dict.fromkeys(k for v in variants for k in v.get("options", {})))
    head = (f"## {product['name']}\n\n{product['name']} (product id {product.get('product_id', '?')}) comes in "
            f"{len(variants)} variants. Options: {', '.join(option_names) or 'none'}. "
            f"Each line gives the {', '.join(option_names) or 'variant'}, the price and the availability.")
    return head + "\n\n" + "\n".join(variant_line(v) for v in variants)


def catalog_markdown(products: dict[str, Any]) -> str:
    """The catalogue as markdown: a title, then one section per product, sorted by name."""
    sections = [_product_section(p) for p in sorted(products.values(), key=lambda p: p["name"])]
    return "# Product catalogue\n\n" + "\n\n".join(sections) + "\n"


def _read(path: Path) -> str:
    if not path.is_file():
        raise AgentSpecError(f"{path} does not exist", hint=_HINT, code="retrieval_input")
    return path.read_text(encoding="utf-8")


def shop_documents(products: dict[str, Any], policy: str | None) -> list[Document]:
    """policy.md (when given), catalog.md of ``products`` and the packaged faq.md, as Documents."""
    found = [Document("catalog.md", catalog_markdown(products)), Document("faq.md", faq_markdown())]
    return [Document("policy.md", policy), *found] if policy is not None else found


def retail_documents(data_dir: str | Path) -> list[Document]:
    """policy.md, catalog.md (from db.json's products) and faq.md as Documents; see the module docstring."""
    data = Path(data_dir).expanduser()
    policy = _read(data / "policy.md")
    try:
        return shop_documents(json.loads(_read(data / "db.json"))["products"], policy)
    except (ValueError, KeyError, TypeError) as exc:
        raise AgentSpecError(f"{data / 'db.json'} is not a tau2 retail db ({exc!r})", hint=_HINT,
                             code="retrieval_input") from None
