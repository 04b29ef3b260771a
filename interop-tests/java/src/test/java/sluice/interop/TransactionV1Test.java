package sluice.interop;

/**
 * {@link TransactionTest} with a 4.x client against a broker that finalizes {@code
 * transaction.version} 1: the client stays on the first transaction protocol.
 */
@SluiceSettings("transaction_version=1")
class TransactionV1Test extends TransactionTest {
  TransactionV1Test(SluiceBroker.Broker broker) {
    super(broker);
  }
}
