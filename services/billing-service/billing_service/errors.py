"""billing-service's error codes (its own: Huawei's billing API is not reproduced). A rule broken raises
``ims_shared.refusal.Refusal`` with one of them."""

BAD_REQUEST = "BSS.0400"
ACCOUNT_NOT_FOUND = "BSS.0404"
IDEMPOTENCY_CONFLICT = "BSS.0409"
