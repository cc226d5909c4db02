"""billing-service: Accounts, balances, metering of CBR backup storage, and arrears."""
