package sluice.interop;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A JUnit 5 extension that starts one Sluice broker per test class:
 * {@code $SLUICE_BIN serve --memory --listen 127.0.0.1:<free port> --http none}.
 *
 * <p>The binary is the system property {@code sluice.bin} (set by the pom from {@code
 * -Dsluice.bin} or {@code $SLUICE_BIN}), else {@code $SLUICE_BIN}, else the repository's debug
 * build. Its output goes to {@code $INTEROP_LOG_DIR/broker-java-<TestClass>.log} (default: the
 * system temp dir) and its pid to {@code broker-java-<TestClass>-<jvm pid>.pid} while it runs, so
 * that run-matrix.sh can stop a broker this JVM left behind. It is stopped (SIGTERM, then
 * SIGKILL) after the class's last test, or by a shutdown hook if the JVM exits first.
 *
 * <p>Tests receive the running broker as a {@link Broker} parameter (in {@code @BeforeAll},
 * constructors or test methods).
 */
public final class SluiceBroker implements BeforeAllCallback, ParameterResolver {
  private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(SluiceBroker.class);

  /** A running broker: where it listens and where its log is. */
  public static final class Broker
      implements ExtensionContext.Store.CloseableResource, AutoCloseable {
    private final Process process;
    private final String bootstrap;
    private final Path log;
    private final Path pidFile;
    private final Thread shutdownHook;
    private final AtomicInteger names = new AtomicInteger();
    private final Map<String, String> settings;

    private Broker(
        Process process, String bootstrap, Path log, Path pidFile, Map<String, String> settings) {
      this.settings = settings;
      this.process = process;
      this.bootstrap = bootstrap;
      this.log = log;
      this.pidFile = pidFile;
      this.shutdownHook = new Thread(this::stop, "stop-sluice");
      Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** {@code host:port} for {@code bootstrap.servers}. */
    public String bootstrap() {
      return bootstrap;
    }

    public int port() {
      return Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
    }

    public Path log() {
      return log;
    }

    /**
     * The {@code transaction.version} level the broker finalizes: its {@code
     * transaction_version} setting, 2 unless {@link SluiceSettings} says otherwise.
     */
    public int transactionVersion() {
      return Integer.parseInt(settings.getOrDefault("transaction_version", "2"));
    }

    /** A topic or group name that no other test against this broker uses. */
    public String unique(String prefix) {
      return prefix + "-" + ProcessHandle.current().pid() + "-" + names.incrementAndGet();
    }

    @Override
    public void close() {
      stop();
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException shuttingDown) {
        // The hook is running or has run: nothing left to remove.
      }
    }

    private void stop() {
      if (process.isAlive()) {
        process.destroy(); // SIGTERM: the broker drains and exits
        try {
          if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
          }
        } catch (InterruptedException e) {
          process.destroyForcibly();
          Thread.currentThread().interrupt();
        }
      }
      try {
        Files.deleteIfExists(pidFile);
      } catch (IOException ignored) {
        // run-matrix.sh finds a dead pid in it and only removes the file.
      }
    }
  }

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    // The store closes the broker when the class's context closes, after its @AfterAll.
    context
        .getStore(NAMESPACE)
        .getOrComputeIfAbsent(
            "broker", k -> start(context.getRequiredTestClass()), Broker.class);
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == Broker.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    Broker broker = context.getStore(NAMESPACE).get("broker", Broker.class);
    if (broker == null) {
      throw new IllegalStateException("no broker started for " + context.getDisplayName());
    }
    return broker;
  }

  private static Broker start(Class<?> testClass) {
    String owner = testClass.getSimpleName();
    Map<String, String> settings = new HashMap<>();
    SluiceSettings annotation = testClass.getAnnotation(SluiceSettings.class);
    if (annotation != null) {
      for (String setting : annotation.value()) {
        int eq = setting.indexOf('=');
        settings.put(setting.substring(0, eq), setting.substring(eq + 1));
      }
    }
    Path binary = binary();
    if (!Files.isExecutable(binary)) {
      throw new IllegalStateException(
          "no broker binary at " + binary + ": set SLUICE_BIN or -Dsluice.bin, or run "
              + "`cargo build -p sluice --bin sluice`");
    }
    try {
      int port = freePort();
      String bootstrap = "127.0.0.1:" + port;
      Path logDir = Paths.get(envOr("INTEROP_LOG_DIR", System.getProperty("java.io.tmpdir")));
      Files.createDirectories(logDir);
      Path log = logDir.resolve("broker-java-" + owner + ".log");
      ProcessBuilder builder =
          new ProcessBuilder(
              List.of(
                  binary.toString(), "serve", "--memory", "--listen", bootstrap, "--http", "none"));
      // The broker reads every SLUICE_<KEY> variable as a setting and refuses unknown ones
      // (SLUICE_BIN included), so none reach it.
      Map<String, String> env = builder.environment();
      env.keySet().removeIf(name -> name.startsWith("SLUICE_"));
      env.put("NO_COLOR", "1");
      settings.forEach(
          (key, value) -> env.put("SLUICE_" + key.toUpperCase(Locale.ROOT), value));
      builder.redirectErrorStream(true);
      builder.redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
      builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
      Process process = builder.start();
      Path pidFile =
          logDir.resolve(
              "broker-java-" + owner + "-" + ProcessHandle.current().pid() + ".pid");
      Files.writeString(pidFile, process.pid() + "\n", StandardCharsets.UTF_8);
      Broker broker = new Broker(process, bootstrap, log, pidFile, Map.copyOf(settings));
      try {
        waitUntilAccepting(process, port, log);
      } catch (RuntimeException e) {
        broker.close();
        throw e;
      }
      return broker;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + binary, e);
    }
  }

  private static Path binary() {
    String configured = System.getProperty("sluice.bin");
    // An unset ${env.SLUICE_BIN} reaches us as the literal placeholder.
    if (configured == null || configured.isBlank() || configured.startsWith("${")) {
      configured = System.getenv("SLUICE_BIN");
    }
    if (configured == null || configured.isBlank()) {
      return Paths.get("..", "..", "target", "debug", "sluice").toAbsolutePath().normalize();
    }
    return Paths.get(configured).toAbsolutePath();
  }

  private static String envOr(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress("127.0.0.1", 0));
      return socket.getLocalPort();
    }
  }

  private static void waitUntilAccepting(Process process, int port, Path log) {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "sluice exited with " + process.exitValue() + " before accepting; log:\n" + read(log));
      }
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException notYet) {
        try {
          Thread.sleep(50);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting for sluice", e);
        }
      }
    }
    throw new IllegalStateException(
        "sluice did not accept on 127.0.0.1:" + port + " within " + START_TIMEOUT);
  }

  private static String read(Path log) {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }
}
