package sluice.interop;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.apache.kafka.connect.source.SourceConnector;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/**
 * Two small Kafka Connect connectors for ConnectTest: {@link LineSource} sends each complete line
 * of a file to a topic (the source offset is the number of lines sent), {@link LineSink} appends
 * each record's value and a newline to a file. Found by the worker through the ServiceLoader
 * files under META-INF/services.
 */
public final class LineConnectors {
  public static final String FILE = "file";
  public static final String TOPIC = "topic";

  private static final String VERSION = "1";

  private LineConnectors() {}

  private static ConfigDef fileConfig() {
    return new ConfigDef()
        .define(FILE, ConfigDef.Type.STRING, ConfigDef.Importance.HIGH, "the file");
  }

  /** A source of one task that reads the lines of {@code file} into {@code topic}. */
  public static final class LineSource extends SourceConnector {
    private Map<String, String> config;

    @Override
    public void start(Map<String, String> props) {
      config = Map.copyOf(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
      return LineSourceTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
      return List.of(config);
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
      return fileConfig()
          .define(TOPIC, ConfigDef.Type.STRING, ConfigDef.Importance.HIGH, "the topic");
    }

    @Override
    public String version() {
      return VERSION;
    }
  }

  public static final class LineSourceTask extends SourceTask {
    private final CountDownLatch stopped = new CountDownLatch(1);
    private Path file;
    private String topic;
    private Map<String, String> partition;
    private long sent;

    @Override
    public void start(Map<String, String> props) {
      file = Paths.get(props.get(FILE));
      topic = props.get(TOPIC);
      partition = Map.of(FILE, file.toString());
      // Resume after the last line whose record the worker's offset store has.
      Map<String, Object> offset = context.offsetStorageReader().offset(partition);
      sent = offset == null ? 0 : ((Number) offset.get("line")).longValue();
    }

    @Override
    public List<SourceRecord> poll() throws InterruptedException {
      List<String> lines = completeLines();
      List<SourceRecord> records = new ArrayList<>();
      while (sent < lines.size()) {
        String line = lines.get((int) sent);
        sent++;
        records.add(
            new SourceRecord(
                partition, Map.of("line", sent), topic, null, null, Schema.STRING_SCHEMA, line));
      }
      if (records.isEmpty()) {
        // Nothing new: wait a little (or until stopped) instead of spinning the worker's loop.
        stopped.await(50, TimeUnit.MILLISECONDS);
        return null;
      }
      return records;
    }

    /** The file's lines that end in a newline: a line still being written is left for later. */
    private List<String> completeLines() {
      String text;
      try {
        text = Files.readString(file, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new ConnectException("cannot read " + file, e);
      }
      List<String> lines = new ArrayList<>(List.of(text.split("\n", -1)));
      lines.remove(lines.size() - 1);
      return lines;
    }

    @Override
    public void stop() {
      stopped.countDown();
    }

    @Override
    public String version() {
      return VERSION;
    }
  }

  /** A sink of one task that appends the values of its topics' records to {@code file}. */
  public static final class LineSink extends SinkConnector {
    private Map<String, String> config;

    @Override
    public void start(Map<String, String> props) {
      config = Map.copyOf(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
      return LineSinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
      return List.of(config);
    }

    @Override
    public void stop() {}

    @Override
    public ConfigDef config() {
      return fileConfig();
    }

    @Override
    public String version() {
      return VERSION;
    }
  }

  public static final class LineSinkTask extends SinkTask {
    private BufferedWriter out;

    @Override
    public void start(Map<String, String> props) {
      try {
        out =
            Files.newBufferedWriter(
                Paths.get(props.get(FILE)),
                StandardCharsets.UTF_8,
                StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new ConnectException("cannot open " + props.get(FILE), e);
      }
    }

    @Override
    public void put(Collection<SinkRecord> records) {
      try {
        for (SinkRecord record : records) {
          out.write((String) record.value());
          out.write('\n');
        }
        // Written through at once, so that the test sees each batch as soon as it is put.
        out.flush();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public void flush(Map<TopicPartition, OffsetAndMetadata> offsets) {
      try {
        out.flush();
      } catch (IOException e) {
        throw new ConnectException(e);
      }
    }

    @Override
    public void stop() {
      try {
        if (out != null) {
          out.close();
        }
      } catch (IOException e) {
        throw new ConnectException(e);
      }
    }

    @Override
    public String version() {
      return VERSION;
    }
  }
}
