"""The chart of accounts: ledger accounts, their nesting, upsert by stable name.

An account's ``parent_id`` nests it under another account of the same business and the same
``account_type``; ``GET /ledger/chart`` renders the tree with ``sub_accounts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ..engine.dispatch import Behaviour, Call, Reply, find_business
from ..engine.store import UNIQUE_FIELDS, Record, Store
from ..errors import BadRequest, NotFound, Problem
from .balances import body_problem
from .listing import index_record, list_page
from .render import render_account

#: Display name of each account type; Layer's five classes of account.
ACCOUNT_TYPES = {
    "ASSET": "Assets",
    "LIABILITY": "Liabilities",
    "EQUITY": "Equity",
    "REVENUE": "Revenue",
    "EXPENSE": "Expenses",
}
#: The account type each subtype belongs to (Layer's published subtype list, by class).
_SUBTYPES_BY_TYPE = {
    "ASSET": (
        "BANK_ACCOUNTS ACCOUNTS_RECEIVABLE INVENTORY PAYMENT_PROCESSOR_CLEARING_ACCOUNT "
        "FIXED_ASSET ACCUMULATED_DEPRECIATION CASH UNDEPOSITED_FUNDS CURRENT_ASSET "
        "NON_CURRENT_ASSET PREPAID_EXPENSES DEVELOPMENT_COSTS LOANS_RECEIVABLE INTANGIBLE_ASSET"
    ),
    "LIABILITY": (
        "ACCOUNTS_PAYABLE CREDIT_CARD TAXES_PAYABLE INCOME_TAXES_PAYABLE SALES_TAXES_PAYABLE "
        "OTHER_TAXES_PAYABLE PAYROLL_TAXES_PAYABLE UNEARNED_REVENUE PAYROLL_LIABILITY "
        "PAYROLL_CLEARING LINE_OF_CREDIT TIPS REFUND_LIABILITIES UNDEPOSITED_OUTFLOWS "
        "OUTGOING_PAYMENT_CLEARING_ACCOUNT OTHER_CURRENT_LIABILITY LOANS_PAYABLE NOTES_PAYABLE "
        "SHAREHOLDER_LOAN NON_CURRENT_LIABILITY"
    ),
    "EQUITY": (
        "CONTRIBUTIONS DISTRIBUTIONS COMMON_STOCK PREFERRED_STOCK ADDITIONAL_PAID_IN_CAPITAL "
        "RETAINED_EARNINGS ACCUMULATED_ADJUSTMENTS OPENING_BALANCE_EQUITY OTHER_EQUITY"
    ),
    "REVENUE": "SALES UNCATEGORIZED_REVENUE RETURNS_ALLOWANCES DIVIDEND_INCOME INTEREST_INCOME "
    "OTHER_INCOME",
    "EXPENSE": (
        "COGS OPERATING_EXPENSES PAYROLL TAXES_LICENSES UNCATEGORIZED_EXPENSE "
        "CHARITABLE_CONTRIBUTIONS LOAN_EXPENSES FINANCE_COSTS INTEREST_EXPENSES DEPRECIATION "
        "AMORTIZATION BAD_DEBT OTHER_EXPENSES"
    ),
}
SUBTYPE_TYPE = {
    subtype: account_type
    for account_type, names in _SUBTYPES_BY_TYPE.items()
    for subtype in names.split()
}
#: The subtype an account gets when the request names none.
DEFAULT_SUBTYPE = {
    "ASSET": "CURRENT_ASSET",
    "LIABILITY": "OTHER_CURRENT_LIABILITY",
    "EQUITY": "OTHER_EQUITY",
    "REVENUE": "OTHER_INCOME",
    "EXPENSE": "OTHER_EXPENSES",
}
_DISPLAY = {"COGS": "Cost of Goods Sold", "ACCOUNTS_RECEIVABLE": "Accounts Receivable"}
_SORT_FIELDS = {"created_at": "created_at"}


def display_name(value: str) -> str:
    return _DISPLAY.get(value) or value.replace("_", " ").capitalize()


def default_normality(account_type: str) -> str:
    """Assets and expenses grow on the debit side; the other classes on the credit side."""
    return "DEBIT" if account_type in ("ASSET", "EXPENSE") else "CREDIT"


def render_ledger_account(account: Record) -> Record:
    """One account with its parent, as ``GET /ledger/accounts`` answers it."""
    parent = account.get("parent_id")
    return {
        "type": "Ledger_Account",
        **render_account(account),
        "parent_id": {"type": "AccountId", "id": parent} if parent else None,
        "created_at": account["created_at"],
        "updated_at": account["updated_at"],
    }


def chart(business: Record) -> list[Record]:
    """The accounts as a tree: top-level accounts in creation order, each with its
    ``sub_accounts`` (also in creation order)."""
    accounts = sorted(
        business["ledger_accounts"].values(), key=lambda a: (a["created_at"], a["id"])
    )
    children: dict[str | None, list[Record]] = {}
    for account in accounts:
        children.setdefault(account.get("parent_id"), []).append(account)

    def node(account: Record) -> Record:
        return {
            **render_account(account),
            "sub_accounts": [node(child) for child in children.get(account["id"], ())],
        }

    return [node(account) for account in children.get(None, ())]


def _stable_name(params: Mapping[str, Any]) -> str | None:
    value = params.get("stable_name")
    return value["stable_name"] if isinstance(value, dict) else value


def _parent_id(params: Mapping[str, Any]) -> str | None:
    value = params.get("parent_id")
    return value["id"] if isinstance(value, dict) else value


def _kept_normality(base: Mapping[str, Any], account_type: str) -> str:
    """An update keeps the normality unless the type changes; a new account gets its type's."""
    if base and base["account_type"]["value"] == account_type:
        return str(base["normality"])
    return default_normality(account_type)


def _descendants(business: Record, account_id: str) -> set[str]:
    out: set[str] = set()
    frontier = [account_id]
    while frontier:
        current = frontier.pop()
        for account in business["ledger_accounts"].values():
            if account.get("parent_id") == current and account["id"] not in out:
                out.add(account["id"])
                frontier.append(account["id"])
    return out


def compose_account(
    business: Record,
    params: Mapping[str, Any],
    *,
    account_id: str,
    now: str,
    existing: Record | None,
) -> Record:
    """Check ``params`` (create-request shape) and build the stored account; changes nothing.

    ``existing``: the account with this stable name, which the request updates (fields left
    out keep their value).
    """
    base = existing or {}
    account_type = params.get("account_type") or base["account_type"]["value"]
    subtype = params.get("account_subtype")
    if subtype is None:
        old = base.get("account_subtype", {}).get("value")
        subtype = old if old and SUBTYPE_TYPE.get(old) == account_type else None
        subtype = subtype or DEFAULT_SUBTYPE[account_type]
    invalid: list[Problem] = []
    if SUBTYPE_TYPE[subtype] != account_type:
        invalid.append(
            body_problem(
                "/account_subtype",
                f"account_subtype {subtype} belongs to {SUBTYPE_TYPE[subtype]} accounts, not "
                f"{account_type}; pick a subtype of {account_type} or leave it out.",
                "accountType",
            )
        )
    parent_id = _parent_id(params) if "parent_id" in params else base.get("parent_id")
    if parent_id is not None:
        parent = business["ledger_accounts"].get(parent_id)
        if parent is None:
            raise NotFound(
                Problem(
                    f"parent_id {parent_id} names no ledger account of this business.",
                    {"location": "body", "pointer": "/parent_id", "keyword": "exists"},
                )
            )
        if parent["account_type"]["value"] != account_type:
            invalid.append(
                body_problem(
                    "/parent_id",
                    f"the parent account {parent_id} is of type "
                    f"{parent['account_type']['value']}; an account of type {account_type} nests "
                    f"only under an account of type {account_type}.",
                    "accountType",
                )
            )
        if parent_id == account_id or parent_id in _descendants(business, account_id):
            invalid.append(
                body_problem(
                    "/parent_id",
                    f"account {parent_id} is this account or one of its sub-accounts; an "
                    "account cannot nest under itself.",
                    "cycle",
                )
            )
    if existing is not None and account_type != existing["account_type"]["value"]:
        nested = [
            a["id"]
            for a in business["ledger_accounts"].values()
            if a.get("parent_id") == existing["id"]
        ]
        if nested:
            invalid.append(
                body_problem(
                    "/account_type",
                    f"account {existing['id']} has sub-accounts ({', '.join(nested)}) of type "
                    f"{existing['account_type']['value']}; move them first.",
                    "accountType",
                )
            )
    if invalid:
        raise BadRequest(invalid)
    return {
        "id": account_id,
        "business_id": business["business"]["id"],
        "name": params.get("name") or base["name"],
        "stable_name": _stable_name(params) or base.get("stable_name"),
        "account_number": params["account_number"]
        if "account_number" in params
        else base.get("account_number"),
        "normality": params.get("normality") or _kept_normality(base, account_type),
        "account_type": {"value": account_type, "display_name": ACCOUNT_TYPES[account_type]},
        "account_subtype": {"value": subtype, "display_name": display_name(subtype)},
        "parent_id": parent_id,
        "created_at": base.get("created_at", now),
        "updated_at": now,
    }


def store_account(store: Store, business: Record, account: Record, existing: Record | None) -> None:
    """Commit an account: stable-name index, list ordering, the record, the event."""
    _, index_name = UNIQUE_FIELDS["ledger_accounts"]
    if account["stable_name"]:
        business["index"][index_name][account["stable_name"]] = account["id"]
    index_record(business, "ledger_accounts", _SORT_FIELDS.values(), account, existing)
    business["ledger_accounts"][account["id"]] = account
    action = "created" if existing is None else "updated"
    store.emit("GeneralLedgerAccount", action, account["business_id"], account["id"], None)


def create(store: Store, call: Call) -> Reply:
    """POST: 201 new, or 200 after updating the account holding this ``stable_name``."""
    with store.transaction():
        business = find_business(store, call)
        params = call.body
        name = _stable_name(params)
        _, index_name = UNIQUE_FIELDS["ledger_accounts"]
        existing_id = business["index"][index_name].get(name) if name else None
        existing = business["ledger_accounts"][existing_id] if existing_id else None
        account = compose_account(
            business,
            params,
            account_id=existing_id or store.ids.new(),
            now=store.now(),
            existing=existing,
        )
        store_account(store, business, account, existing)
        return Reply(201 if existing is None else 200, {"data": render_ledger_account(account)})


def fetch(store: Store, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        account = business["ledger_accounts"].get(call.path["accountId"])
        if account is None:
            raise NotFound(
                Problem(
                    f"Ledger account not found: no account {call.path['accountId']} in this "
                    "business.",
                    {"location": "path", "pointer": "/accountId", "keyword": "exists"},
                )
            )
        return Reply(200, {"data": render_ledger_account(account)})


def list_accounts(store: Store, call: Call) -> Reply:
    query = call.query
    account_type = query.get("account_type")
    stable_name = query.get("stable_name")
    parent = query.get("parent_id")

    def matches(account: Record) -> bool:
        if account_type is not None and account["account_type"]["value"] != account_type:
            return False
        if stable_name is not None and account.get("stable_name") != stable_name:
            return False
        return parent is None or account.get("parent_id") == parent

    with store.transaction():
        business = find_business(store, call)
        return list_page(
            business, "ledger_accounts", query, _SORT_FIELDS, matches, render_ledger_account
        )


def fetch_chart(store: Store, call: Call) -> Reply:
    with store.transaction():
        business = find_business(store, call)
        return Reply(200, {"data": {"type": "Chart_Of_Accounts", "accounts": chart(business)}})


def behaviours(store: Store) -> dict[str, Behaviour]:
    return {
        "business.ledger.chart.get": partial(fetch_chart, store),
        "business.ledger.accounts.get": partial(list_accounts, store),
        "business.ledger.accounts.post": partial(create, store),
        "business.ledger.accounts.get_one": partial(fetch, store),
    }
