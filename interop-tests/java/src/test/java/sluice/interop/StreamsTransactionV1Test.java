package sluice.interop;

/**
 * {@link StreamsTest} against a broker that finalizes {@code transaction.version} 1: exactly_once_v2
 * on the first transaction protocol.
 */
@SluiceSettings("transaction_version=1")
class StreamsTransactionV1Test extends StreamsTest {
  StreamsTransactionV1Test(SluiceBroker.Broker broker) {
    super(broker);
  }
}
