"""THE views: the word rule (Spark columns), how a user is keyed, the published batch row and its
arrival cutoff T, the speed view's expiry rule, and the one DDL file (tables.cql) that defines them."""
