"""Fulfilment: which locations serve an order and why (`routing`, on `inventory.allocation`),
parcels, pickup, tracking and delays (`services`), ship-by and delivery estimates
(`delivery`). Independent of payments; below placement."""
