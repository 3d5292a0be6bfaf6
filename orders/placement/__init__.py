"""Placement: checkout (`checkout`), making the order from a payment's snapshot (`placement`),
gateway notifications that finish an order (`notifications`), editing and cancelling an order
(`editing`, `cancellation`), and reconciling payments left without an order (`reconcile`).
Uses carts, payments and fulfilment; the channels build on it."""
