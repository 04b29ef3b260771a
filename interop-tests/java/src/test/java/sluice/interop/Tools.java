package sluice.interop;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.utils.internals.Exit;

/**
 * Runs one of Kafka's command-line tools in this JVM, as its {@code main} would run from a shell,
 * and captures what it prints.
 *
 * <p>The tools end through {@link Exit} rather than {@code System.exit}, so its exit procedure is
 * replaced for the call by one that unwinds the tool with its status. Shutdown hooks the tool
 * registers (ConsoleProducer closes, and so flushes, its producer in one) run right after it
 * returns, as they would when its JVM exits. Standard in, out and error are swapped for the call,
 * so calls are serialized.
 */
final class Tools {
  private Tools() {}

  /** What one run of a tool did. */
  record Result(String tool, List<String> args, int status, String out, String err) {
    List<String> outLines() {
      return out.lines().toList();
    }

    List<String> errLines() {
      return err.lines().toList();
    }

    @Override
    public String toString() {
      return tool + " " + String.join(" ", args) + " -> status " + status + "\n--- stdout\n" + out
          + "--- stderr\n" + err;
    }
  }

  /** A tool's exit, unwinding it: an Error, so that its catch (Exception) blocks pass it on. */
  private static final class ToolExit extends Error {
    ToolExit(int status) {
      super("exit " + status, null, false, false);
    }
  }

  static Result run(String mainClass, String... args) throws Exception {
    return runWithInput(mainClass, "", args);
  }

  /** Runs {@code mainClass} with {@code stdin} as its standard input. */
  static synchronized Result runWithInput(String mainClass, String stdin, String... args)
      throws Exception {
    Method main = Class.forName(mainClass).getMethod("main", String[].class);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream savedOut = System.out;
    PrintStream savedErr = System.err;
    InputStream savedIn = System.in;
    List<Runnable> hooks = new ArrayList<>();
    Integer[] firstExit = {null};
    try (PrintStream toolOut = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream toolErr = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      Exit.Procedure exit =
          (code, message) -> {
            // A JVM ends at its first exit: a tool that catches the unwinding and exits again
            // (TopicCommand catches Throwable) does not change the status.
            if (firstExit[0] == null) {
              firstExit[0] = code;
            }
            throw new ToolExit(code);
          };
      Exit.setExitProcedure(exit);
      Exit.setHaltProcedure(exit);
      Exit.setShutdownHookAdder((name, hook) -> hooks.add(hook));
      System.setOut(toolOut);
      System.setErr(toolErr);
      System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
      try {
        main.invoke(null, (Object) args);
      } catch (InvocationTargetException e) {
        if (!(e.getCause() instanceof ToolExit)) {
          throw new AssertionError(mainClass + " threw; stdout:\n" + out + "stderr:\n" + err, e);
        }
      }
      for (Runnable hook : hooks) {
        try {
          hook.run();
        } catch (RuntimeException e) {
          e.printStackTrace(toolErr);
        }
      }
    } finally {
      System.setOut(savedOut);
      System.setErr(savedErr);
      System.setIn(savedIn);
      Exit.resetExitProcedure();
      Exit.resetHaltProcedure();
      Exit.resetShutdownHookAdder();
    }
    int status = firstExit[0] == null ? 0 : firstExit[0];
    String simpleName = mainClass.substring(mainClass.lastIndexOf('.') + 1);
    return new Result(
        simpleName,
        List.of(args),
        status,
        out.toString(StandardCharsets.UTF_8),
        err.toString(StandardCharsets.UTF_8));
  }
}
