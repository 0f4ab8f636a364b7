"""What differs between customer and vendor credits, named once (``CreditKind``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreditKind:
    """What differs between customer and vendor credits."""

    collection: str  # customer_credits
    counterparty: str  # customer
    document: str  # invoice
    date_field: str  # sent_at
    account_field: str  # revenue_account_identifier
    credit_type: str  # Customer_Credit
    counterparty_type: str  # CustomerData
    counterparty_has_status: bool
    operation_prefix: str  # business.invoices.customer-credits

    @property
    def label(self) -> str:
        return self.collection[:-1].replace("_", " ")

    @property
    def entity(self) -> str:
        """The entity name events carry (``CustomerCredit``)."""
        return "".join(word.capitalize() for word in self.collection[:-1].split("_"))

    @property
    def external_id_index(self) -> str:
        """The business index of live credits' external ids (see ``store.new_business``)."""
        return f"{self.collection[:-1]}_external_ids"

    @property
    def path_param(self) -> str:
        """The credit's id in the path (``customerCreditId``)."""
        return f"{self.counterparty}CreditId"

    @property
    def credit_id_field(self) -> str:
        """An allocation's field naming its credit (``customer_credit_id``)."""
        return f"{self.collection[:-1]}_id"

    @property
    def counterparties(self) -> str:
        return f"{self.counterparty}s"

    @property
    def documents(self) -> str:
        return f"{self.document}s"

    @property
    def counterparty_id(self) -> str:
        return f"{self.counterparty}_id"

    @property
    def counterparty_external_id(self) -> str:
        return f"{self.counterparty}_external_id"

    @property
    def document_id(self) -> str:
        return f"{self.document}_id"


CUSTOMER_CREDITS = CreditKind(
    collection="customer_credits",
    counterparty="customer",
    document="invoice",
    date_field="sent_at",
    account_field="revenue_account_identifier",
    credit_type="Customer_Credit",
    counterparty_type="CustomerData",
    counterparty_has_status=True,
    operation_prefix="business.invoices.customer-credits",
)
VENDOR_CREDITS = CreditKind(
    collection="vendor_credits",
    counterparty="vendor",
    document="bill",
    date_field="received_at",
    account_field="expense_account_identifier",
    credit_type="Vendor_Credit",
    counterparty_type="VendorData",
    counterparty_has_status=False,
    operation_prefix="business.bills.vendor-credits",
)
KINDS = (CUSTOMER_CREDITS, VENDOR_CREDITS)
