/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Reads the analysis elements' buffer metas from C, in a pad probe, with
 * gst_buffer_get_custom_meta () and gst_custom_meta_get_structure () (GStreamer 1.20 and
 * later): onnxsegmentation's class fractions, onnxanomaly's score and onnxmap's range. It
 * prints them and checks them against what is known of the inputs; it exits 1 when a check
 * fails. The plugin must be on GStreamer's plugin path (scripts/install.sh, or
 * GST_PLUGIN_PATH; examples/c/run.sh does both steps below).
 *
 *   gcc -o read_metas examples/c/read_metas.c \
 *       $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-video-1.0) -lm
 *   ./read_metas [REPOSITORY]        (default: the current folder)
 */
#include <gst/gst.h>
#include <math.h>
#include <string.h>

static gint failures = 0;    /* also counted from the streaming threads */

#define CHECK(condition, ...)                                                  \
  do {                                                                         \
    if (!(condition)) {                                                        \
      g_printerr ("FAILED (%s): ", #condition);                                \
      g_printerr (__VA_ARGS__);                                                \
      g_printerr ("\n");                                                       \
      g_atomic_int_inc (&failures);                                           \
    }                                                                          \
  } while (0)

/* A double field, or NAN when it is missing or not a double. */
static gdouble
get_double (const GstStructure * s, const gchar * field)
{
  gdouble value;
  return gst_structure_get_double (s, field, &value) ? value : NAN;
}

/* onnxsegmentation: the arrays class-names and fractions, and the same values as plain
 * fields; the fractions against the class ids ONNX Runtime gave in Python on this picture. */
static void
check_segmentation (const GstStructure * s, const gchar * repo)
{
  const GValue *names = gst_structure_get_value (s, "class-names");
  const GValue *fractions = gst_structure_get_value (s, "fractions");
  guint classes = 0, i, n;
  gdouble sum = 0.0;
  gchar *path, *ids = NULL;
  gsize count = 0;

  if (names == NULL || !GST_VALUE_HOLDS_ARRAY (names) || fractions == NULL
      || !GST_VALUE_HOLDS_ARRAY (fractions)) {
    CHECK (FALSE, "class-names and fractions are arrays");
    return;
  }
  n = gst_value_array_get_size (fractions);
  CHECK (gst_structure_get_uint (s, "classes", &classes) && classes == n
      && gst_value_array_get_size (names) == n, "%u classes, %u fractions", classes, n);
  CHECK (n == 4, "segmentation_unet.onnx has 4 classes, not %u", n);

  path = g_build_filename (repo, "docs", "samples", "scene.classes.u8", NULL);
  if (!g_file_get_contents (path, &ids, &count, NULL) || count == 0)
    CHECK (FALSE, "cannot read %s", path);
  for (i = 0; i < n && i < gst_value_array_get_size (names); i++) {
    const GValue *name = gst_value_array_get_value (names, i);
    const GValue *fraction = gst_value_array_get_value (fractions, i);
    gchar *name_field = g_strdup_printf ("class-%u-name", i);
    gchar *fraction_field = g_strdup_printf ("fraction-%u", i);
    const gchar *text = G_VALUE_HOLDS_STRING (name) ? g_value_get_string (name) : NULL;
    gdouble f = G_VALUE_HOLDS_DOUBLE (fraction) ? g_value_get_double (fraction) : NAN;
    gsize pixels = 0, p;

    for (p = 0; p < count; p++)
      pixels += (guint8) ids[p] == i;
    g_print ("  %-10s %.4f (Python: %.4f)\n", text ? text : "?", f,
        count ? (gdouble) pixels / count : NAN);
    CHECK (f >= 0.0 && f <= 1.0, "fraction %u is %f", i, f);
    CHECK (count > 0 && fabs (f - (gdouble) pixels / count) < 0.002,
        "class %u: %f against Python's %f", i, f, (gdouble) pixels / count);
    CHECK (g_strcmp0 (gst_structure_get_string (s, name_field), text) == 0,
        "%s is the name in the array", name_field);
    CHECK (get_double (s, fraction_field) == f, "%s is the fraction in the array",
        fraction_field);
    sum += f;
    g_free (name_field);
    g_free (fraction_field);
  }
  CHECK (fabs (sum - 1.0) < 1e-9, "the fractions sum to %f", sum);
  g_free (ids);
  g_free (path);
}

/* onnxanomaly: brick.png has a scratch and a gravel patch: its score is above 2. */
static void
check_anomaly (const GstStructure * s, const gchar * repo)
{
  gdouble score = get_double (s, "score"), threshold = get_double (s, "threshold");
  gboolean anomalous = FALSE;

  (void) repo;
  g_print ("  score %.3f, threshold %.1f\n", score, threshold);
  CHECK (isfinite (score) && score > 2.0, "the score is %f", score);
  CHECK (threshold == 2.0, "the threshold is the property's, not %f", threshold);
  CHECK (gst_structure_get_boolean (s, "anomalous", &anomalous) && anomalous,
      "the frame is anomalous");
}

/* onnxmap with normalization=fixed: low and high are the model's map_range. */
static void
check_map (const GstStructure * s, const gchar * repo)
{
  gdouble min = get_double (s, "min"), max = get_double (s, "max");
  gdouble low = get_double (s, "low"), high = get_double (s, "high");
  const gchar *meaning = gst_structure_get_string (s, "meaning");

  (void) repo;
  g_print ("  '%s': %.3f..%.3f, drawn over %.2f..%.2f\n", meaning ? meaning : "?", min,
      max, low, high);
  CHECK (isfinite (min) && isfinite (max) && min <= max, "min %f, max %f", min, max);
  CHECK (low == -0.25 && high == 1.25, "low %f, high %f: the model's map_range", low, high);
  CHECK (g_strcmp0 (meaning, "test gradient") == 0, "the model's map_meaning");
}

typedef struct
{
  const gchar *meta;
  void (*check) (const GstStructure * s, const gchar * repo);
  const gchar *repo;
  guint buffers;
} Reader;

/* On the sink's pad: every buffer must carry the meta. Reads defensively, never aborts. */
static GstPadProbeReturn
read_meta (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Reader *reader = data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstCustomMeta *meta;

  (void) pad;
  if (buffer == NULL)
    return GST_PAD_PROBE_OK;
  meta = gst_buffer_get_custom_meta (buffer, reader->meta);
  CHECK (meta != NULL, "a buffer without %s", reader->meta);
  if (meta != NULL) {
    g_print ("%s at %" GST_TIME_FORMAT ":\n", reader->meta,
        GST_TIME_ARGS (GST_BUFFER_PTS (buffer)));
    reader->check (gst_custom_meta_get_structure (meta), reader->repo);
    reader->buffers++;
  }
  return GST_PAD_PROBE_OK;
}

/* Runs `description` (ending in a fakesink named sink) to its end, reading `reader`'s meta. */
static void
run (const gchar * description, Reader * reader)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  GstElement *sink;
  GstPad *pad;
  GstMessage *message;

  if (pipeline == NULL) {
    CHECK (FALSE, "%s: %s", description, error->message);
    g_clear_error (&error);
    return;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  pad = sink ? gst_element_get_static_pad (sink, "sink") : NULL;
  if (pad == NULL) {
    CHECK (FALSE, "%s: no element named sink with a sink pad", description);
    gst_clear_object (&sink);
    gst_object_unref (pipeline);
    return;
  }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, read_meta, reader, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline), 60 * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  if (message == NULL) {
    CHECK (FALSE, "%s: no end within 60 s", reader->meta);
  } else if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    gst_message_parse_error (message, &error, NULL);
    CHECK (FALSE, "%s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)), error->message);
    g_clear_error (&error);
  }
  CHECK (reader->buffers > 0, "no buffer read for %s", reader->meta);
  gst_clear_message (&message);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
}

int
main (int argc, char **argv)
{
  const gchar *repo = argc > 1 ? argv[1] : ".";
  Reader segmentation = { "GstAutoencoderSegmentationMeta", check_segmentation, repo, 0 };
  Reader anomaly = { "GstAutoencoderAnomalyMeta", check_anomaly, repo, 0 };
  Reader map = { "GstAutoencoderMapMeta", check_map, repo, 0 };
  gchar *description;

  gst_init (&argc, &argv);
  description = g_strdup_printf ("filesrc location=\"%s/docs/samples/scene.png\" ! pngdec "
      "! videoconvert ! onnxsegmentation model-file=\"%s/models/segmentation_unet.onnx\" "
      "! fakesink name=sink", repo, repo);
  run (description, &segmentation);
  g_free (description);
  description = g_strdup_printf ("filesrc location=\"%s/docs/samples/brick.png\" ! pngdec "
      "! videoconvert ! onnxanomaly model-file=\"%s/models/anomaly_brick.onnx\" threshold=2 "
      "! fakesink name=sink", repo, repo);
  run (description, &anomaly);
  g_free (description);
  description = g_strdup_printf ("videotestsrc num-buffers=3 "
      "! video/x-raw,width=160,height=120 ! videoconvert "
      "! onnxmap model-file=\"%s/tests/fixtures/map_gradient.onnx\" normalization=fixed "
      "! fakesink name=sink", repo);
  run (description, &map);
  g_free (description);

  if (g_atomic_int_get (&failures) > 0) {
    g_printerr ("read_metas: %d checks failed\n", g_atomic_int_get (&failures));
    return 1;
  }
  g_print ("read_metas: all checks passed\n");
  return 0;
}
