"""Scale-out roles around a Kafka-protocol log (docs/scale-out.md): the log client and the
spool shipper (``log``), consumer-group lake writers (``deliver``) and detectors
(``detect_group``)."""
