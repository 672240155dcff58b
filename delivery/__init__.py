"""Delivery: how erpsync's outgoing messages reach their receivers, whatever the message is.

Business code (``routing``, ``alerts``, ``sync``) writes a message into the outbox
(``store.outbox.enqueue``) in the transaction of the change it announces; from there:

- :mod:`delivery.worker`: ``OutboxWorker`` claims due messages and hands them to each topic's
  handler, with backoff, ordering per partition and dead letters;
- :mod:`delivery.outcomes`: ``Delivered``, ``Retry``, ``Failed`` — what a handler reports;
- :mod:`delivery.webhook`: a signed JSON ``POST`` and what its answer means;
- :mod:`delivery.signing`: the HMAC request signatures, for requests sent and received;
- :mod:`delivery.smtp`: one e-mail through the SMTP server, with the same outcomes.

Delivery imports only ``core`` and ``store``; the handlers that know what a message means live
with their business (``routing.delivery.DispatchSender``, ``alerts.notifiers.NotifyHandler``,
``sync.outbound``'s stock push).
"""
