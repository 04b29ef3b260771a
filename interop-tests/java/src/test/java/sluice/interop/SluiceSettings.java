package sluice.interop;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Settings for the broker {@link SluiceBroker} starts for the annotated test class, each {@code
 * key=value} with a key of config/sluice.toml; they reach the broker as {@code SLUICE_<KEY>}
 * variables. Without it the broker runs on its defaults.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface SluiceSettings {
  String[] value();
}
