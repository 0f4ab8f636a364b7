"""What differs between customer and vendor credits (``CreditKind``) and between invoices and
bills (``DocumentKind``), named once."""

from __future__ import annotations

from dataclasses import dataclass

#: A customer's or vendor's own fields: what a create, PUT or PATCH may set (``status`` aside)
#: and what every answer showing one carries.
PARTY_FIELDS = (
    "external_id",
    "individual_name",
    "company_name",
    "email",
    "mobile_phone",
    "office_phone",
    "address_string",
    "memo",
)


@dataclass(frozen=True)
class PartyKind:
    """A kind of record that belongs to a customer or a vendor, and the names derived from it."""

    counterparty: str  # customer

    @property
    def counterparties(self) -> str:
        return f"{self.counterparty}s"

    @property
    def counterparty_id(self) -> str:
        return f"{self.counterparty}_id"

    @property
    def counterparty_external_id(self) -> str:
        return f"{self.counterparty}_external_id"


@dataclass(frozen=True)
class CreditKind(PartyKind):
    """What differs between customer and vendor credits."""

    collection: str  # customer_credits
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
    def documents(self) -> str:
        return f"{self.document}s"

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


@dataclass(frozen=True)
class DocumentKind(PartyKind):
    """What differs between invoices (receivables) and bills (payables)."""

    collection: str  # invoices
    label: str  # invoice
    date_field: str  # sent_at
    number_field: str  # invoice_number
    open_status: str  # SENT: nothing paid or credited yet
    response_type: str  # Invoice
    payments: str  # invoice_payments
    payment_type: str  # InvoicePayment
    entity: str  # Invoice (webhook entity name)
    payment_entity: str  # InvoicePayment
    credit_kind: CreditKind
    #: Bill payments must be allocated in full; invoice payments may leave some unapplied.
    payments_fully_allocated: bool
    #: The stable name of the account a line without ``account_identifier`` is booked to.
    default_account: str

    @property
    def id_field(self) -> str:
        """An allocation's field naming the document (``invoice_id``)."""
        return f"{self.label}_id"

    @property
    def path_param(self) -> str:
        return f"{self.label}Id"

    @property
    def external_id_index(self) -> str:
        return f"{self.label}_external_ids"

    @property
    def payment_external_id_index(self) -> str:
        return f"{self.payments[:-1]}_external_ids"


INVOICES = DocumentKind(
    collection="invoices",
    label="invoice",
    counterparty="customer",
    date_field="sent_at",
    number_field="invoice_number",
    open_status="SENT",
    response_type="Invoice",
    payments="invoice_payments",
    payment_type="InvoicePayment",
    entity="Invoice",
    payment_entity="InvoicePayment",
    credit_kind=CUSTOMER_CREDITS,
    payments_fully_allocated=False,
    default_account="SALES",
)
BILLS = DocumentKind(
    collection="bills",
    label="bill",
    counterparty="vendor",
    date_field="received_at",
    number_field="bill_number",
    open_status="RECEIVED",
    response_type="Bill",
    payments="bill_payments",
    payment_type="BillPayment",
    entity="Bill",
    payment_entity="BillPayment",
    credit_kind=VENDOR_CREDITS,
    payments_fully_allocated=True,
    default_account="UNCATEGORIZED_EXPENSE",
)
DOCUMENT_KINDS = (INVOICES, BILLS)
