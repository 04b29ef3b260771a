package sluice.interop;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code sluice serve} child with the arguments a test gives (listeners, TLS, SASL users,
 * the authorizer), for tests that need more than {@link SluiceBroker}'s one plaintext
 * listener. Its output goes to {@code $INTEROP_LOG_DIR/broker-java-<name>.log}.
 */
final class SluiceProcess implements AutoCloseable {
  private final Process process;
  private final Path log;

  private SluiceProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /** Starts the broker with `args` after {@code serve} and waits until every one of `addresses` accepts. */
  static SluiceProcess start(String name, List<String> args, List<String> addresses)
      throws Exception {
    Path log =
        Paths.get(envOr("INTEROP_LOG_DIR", System.getProperty("java.io.tmpdir")))
            .resolve("broker-java-" + name + ".log");
    Files.createDirectories(log.getParent());
    List<String> command = new ArrayList<>(List.of(binary(), "serve"));
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().keySet().removeIf(variable -> variable.startsWith("SLUICE_"));
    builder.redirectErrorStream(true);
    builder.redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
    builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    SluiceProcess broker = new SluiceProcess(builder.start(), log);
    try {
      for (String address : addresses) {
        broker.waitUntilAccepting(address);
      }
    } catch (Exception e) {
      broker.close();
      throw e;
    }
    return broker;
  }

  /** A free loopback {@code host:port}. */
  static String freeAddress() throws IOException {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress("127.0.0.1", 0));
      return "127.0.0.1:" + socket.getLocalPort();
    }
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
  }

  private void waitUntilAccepting(String address) throws Exception {
    int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "sluice exited with " + process.exitValue() + "; log:\n" + Files.readString(log));
      }
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    throw new IllegalStateException("sluice did not accept on " + address);
  }

  private static String binary() {
    String configured = System.getProperty("sluice.bin");
    // An unset ${env.SLUICE_BIN} reaches us as the literal placeholder.
    if (configured == null || configured.isBlank() || configured.startsWith("${")) {
      configured = System.getenv("SLUICE_BIN");
    }
    if (configured == null || configured.isBlank()) {
      return Paths.get("..", "..", "target", "debug", "sluice")
          .toAbsolutePath()
          .normalize()
          .toString();
    }
    return Paths.get(configured).toAbsolutePath().toString();
  }

  private static String envOr(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }
}
