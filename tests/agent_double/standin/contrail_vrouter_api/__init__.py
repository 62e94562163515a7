"""TEST DOUBLE of Contrail's contrail_vrouter_api package (see ../README)."""
