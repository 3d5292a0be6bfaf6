"""Payments: gateways (`gateways`), payments and their transactions, capture, refund, void and
settlement (`services`), and the card-testing limits (`card_testing`). Independent of
fulfilment; below placement, which turns a payment into an order."""
