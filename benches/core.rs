// SPDX-License-Identifier: MIT OR Apache-2.0
//! Micro-benchmarks of the per-frame work around the model, single-threaded, next to a plain
//! copy of as many bytes as each step moves (the larger of what it reads and what it writes):
//! the memory-bandwidth floor of this machine. After criterion's own report, prints a table of
//! each step as a fraction of copy speed and writes it to target/bench/core.csv.
//!
//!     cargo bench --bench core                 # all sizes
//!     cargo bench --bench core -- 1920x1080    # criterion's filter

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use gstautoencoder::inference::anomaly::{ErrorMap, HeatmapStyle, Planes, draw_heatmap};
use gstautoencoder::inference::convert::{InputEncoder, OutputDecoder, blend_rgb8};
use gstautoencoder::inference::map::{
    Colormap, FrameMap, ModelMap, Normalisation, Percentiles, draw_map, write_gray16,
};
use gstautoencoder::inference::model::PreprocessingOverrides;
use gstautoencoder::inference::resize::{Resizer, Size};
use gstautoencoder::inference::score_map::{ScoreMap, Upsampler};
use gstautoencoder::inference::segmentation::{BinaryScores, ClassMap, Palette, draw_classes};
use gstautoencoder::inference::superres::SuperResOutput;
use gstautoencoder::inference::{DecodedImage, ImageMut, ImageRef, PixelLayout, Preprocessing};

const SIZES: [(usize, usize); 3] = [(640, 360), (1280, 720), (1920, 1080)];
/// Pixel layouts, named by the GStreamer formats that share them.
const LAYOUTS: [(&str, PixelLayout); 6] = [
    ("RGB", PixelLayout::RGB),
    ("BGR", PixelLayout::BGR),
    ("RGBx", PixelLayout::RGBA),
    ("BGRx", PixelLayout::BGRA),
    ("xRGB", PixelLayout::ARGB),
    ("xBGR", PixelLayout::ABGR),
];
/// The shipped segmentation model's class count (background, brick, grass, gravel).
const CLASSES: usize = 4;

fn preprocessing(normalised: bool) -> Preprocessing {
    let mut metadata = HashMap::new();
    if normalised {
        metadata.insert("mean".into(), "0.485,0.456,0.406".into());
        metadata.insert("std".into(), "0.229,0.224,0.225".into());
    }
    Preprocessing::resolve(&metadata, &PreprocessingOverrides::default()).unwrap()
}

fn frame(width: usize, height: usize, layout: PixelLayout) -> Vec<u8> {
    (0..width * height * layout.bytes_per_pixel)
        .map(|i| (i * 7 % 251) as u8)
        .collect()
}

fn tensor(width: usize, height: usize, planes: usize) -> Vec<f32> {
    (0..width * height * planes)
        .map(|i| (i % 997) as f32 / 997.0)
        .collect()
}

/// A copy of `bytes` bytes: the reference every step is compared with.
fn bench_copy(c: &mut Criterion, label: &str, bytes: usize) {
    let src = vec![1u8; bytes];
    let mut dst = vec![0u8; bytes];
    let mut group = c.benchmark_group(label);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(BenchmarkId::new("memcpy", bytes), |b| {
        b.iter(|| dst.copy_from_slice(black_box(&src)))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    for (w, h) in SIZES {
        let size = format!("{w}x{h}");
        let pixels = w * h;
        let tensor_bytes = pixels * 3 * 4;
        bench_copy(c, &format!("{size}/copy"), tensor_bytes);
        bench_copy(c, &format!("{size}/copy"), pixels * 4);
        bench_copy(c, &format!("{size}/copy"), pixels * 3);
        bench_copy(c, &format!("{size}/copy"), 2 * tensor_bytes);
        bench_copy(c, &format!("{size}/copy"), pixels * CLASSES * 4);
        bench_copy(c, &format!("{size}/copy"), pixels * 16);

        let mut group = c.benchmark_group(format!("{size}/frame-to-tensor"));
        let mut t = vec![0f32; pixels * 3];
        for (name, layout) in LAYOUTS {
            let img = frame(w, h, layout);
            for normalised in [false, true] {
                let encoder = InputEncoder::new(&preprocessing(normalised), 3);
                let image = ImageRef {
                    data: &img,
                    width: w,
                    height: h,
                    stride: w * layout.bytes_per_pixel,
                    layout,
                };
                let id = format!("{name}{}", if normalised { "+norm" } else { "" });
                group.bench_function(id, |b| b.iter(|| encoder.encode(&image, &mut t, w, h)));
            }
        }
        group.finish();

        let mut group = c.benchmark_group(format!("{size}/tensor-to-frame"));
        let output = tensor(w, h, 3);
        let decoder = OutputDecoder::new(&preprocessing(false));
        for (name, layout) in [LAYOUTS[0], LAYOUTS[2]] {
            let mut img = frame(w, h, layout);
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut image = ImageMut {
                        data: &mut img,
                        width: w,
                        height: h,
                        stride: w * layout.bytes_per_pixel,
                        layout,
                    };
                    decoder.decode(&output, w, h, &mut image, 1.0)
                })
            });
        }
        let rgb = frame(w, h, PixelLayout::RGB);
        let mut img = frame(w, h, PixelLayout::RGBA);
        group.bench_function("blend-RGBx", |b| {
            b.iter(|| {
                let mut image = ImageMut {
                    data: &mut img,
                    width: w,
                    height: h,
                    stride: w * 4,
                    layout: PixelLayout::RGBA,
                };
                blend_rgb8(&rgb, &mut image, 0.7)
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("{size}/resize"));
        let (mw, mh) = (w / 2, h / 2);
        let full = Size {
            width: w,
            height: h,
        };
        let half = Size {
            width: mw,
            height: mh,
        };
        let src = frame(w, h, PixelLayout::RGB);
        let mut small = vec![0u8; half.rgb_len()];
        let mut back = vec![0u8; full.rgb_len()];
        let mut resizer = Resizer::default();
        group.bench_function("to-half", |b| {
            b.iter(|| resizer.resize(&src, full, &mut small, half).unwrap())
        });
        group.bench_function("from-half", |b| {
            b.iter(|| resizer.resize(&small, half, &mut back, full).unwrap())
        });
        group.finish();

        let mut group = c.benchmark_group(format!("{size}/segmentation"));
        let scores = tensor(w, h, CLASSES);
        let shape = [1, CLASSES as i64, h as i64, w as i64];
        let mut map = ClassMap::default();
        let (mut ids, mut columns) = (Vec::new(), Vec::new());
        let palette = Palette::distinct(CLASSES);
        let mut img = frame(w, h, PixelLayout::RGBA);
        group.bench_function("argmax+overlay", |b| {
            b.iter(|| {
                map.decide(&shape, &scores, w, h, 0.5, BinaryScores::Probability)
                    .unwrap();
                map.scale_nearest_into(w, h, &mut ids, &mut columns);
                let mut image = ImageMut {
                    data: &mut img,
                    width: w,
                    height: h,
                    stride: w * 4,
                    layout: PixelLayout::RGBA,
                };
                draw_classes(&mut image, &ids, &palette, 0.5, true)
            })
        });
        group.finish();

        // A model at half the frame's size: its decisions taken to the frame by nearest
        // neighbour (class ids scaled) or bilinearly (scores interpolated, then decided).
        let mut group = c.benchmark_group(format!("{size}/upsampling"));
        let (sw, sh) = (w / 2, h / 2);
        let half_scores = tensor(sw, sh, CLASSES);
        let half_shape = [1, CLASSES as i64, sh as i64, sw as i64];
        group.bench_function("nearest", |b| {
            b.iter(|| {
                map.decide(
                    &half_shape,
                    &half_scores,
                    sw,
                    sh,
                    0.5,
                    BinaryScores::Probability,
                )
                .unwrap();
                map.scale_nearest_into(w, h, &mut ids, &mut columns);
            })
        });
        let (mut kept, mut upsampler, mut frame_map) = (
            ScoreMap::default(),
            Upsampler::default(),
            ClassMap::default(),
        );
        group.bench_function("bilinear", |b| {
            b.iter(|| {
                kept.keep(&half_shape, &half_scores, sw, sh).unwrap();
                frame_map.decide_upsampled(
                    &kept,
                    &mut upsampler,
                    (w, h),
                    0.5,
                    BinaryScores::Probability,
                );
            })
        });
        group.finish();

        // onnxmap: a one-channel map at half the frame's size, kept with its range and brought
        // to the frame (once per result), then normalised and drawn (every frame).
        let mut group = c.benchmark_group(format!("{size}/map"));
        let half_map = tensor(sw, sh, 1);
        let half_map_shape = [1, 1, sh as i64, sw as i64];
        let half_size = Size {
            width: sw,
            height: sh,
        };
        let (mut model_map, mut frame_map, mut upsampler) = (
            ModelMap::default(),
            FrameMap::default(),
            Upsampler::default(),
        );
        group.bench_function("keep+upsample", |b| {
            b.iter(|| {
                model_map
                    .take(&half_map_shape, &half_map, half_size, half_size)
                    .unwrap();
                frame_map.upsample(&model_map.map, w, h, &mut upsampler);
            })
        });
        let mut percentiles = Percentiles::default();
        group.bench_function("percentiles", |b| {
            b.iter(|| {
                percentiles.reset(&model_map.map);
                black_box(percentiles.range(2.0))
            })
        });
        let mut img = frame(w, h, PixelLayout::RGBA);
        let normalisation = Normalisation::new(model_map.min, model_map.max, false);
        for (name, opacity) in [("turbo-RGBx", 1.0), ("overlay-RGBx", 0.5)] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut image = ImageMut {
                        data: &mut img,
                        width: w,
                        height: h,
                        stride: w * 4,
                        layout: PixelLayout::RGBA,
                    };
                    draw_map(
                        &mut image,
                        &frame_map,
                        Colormap::Turbo.lut(),
                        normalisation,
                        opacity,
                    )
                })
            });
        }
        let mut gray = vec![0u8; w * h * 2];
        group.bench_function("gray16", |b| {
            b.iter(|| write_gray16(&frame_map, normalisation, &mut gray, w * 2))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("{size}/anomaly"));
        group.sample_size(10);
        let input = tensor(w, h, 3);
        let reconstruction: Vec<f32> = input.iter().map(|v| v * 0.9 + 0.05).collect();
        let planes = |values| Planes {
            values,
            plane_width: w,
            plane_height: h,
            to_unit: [(1.0, 0.0); 3],
        };
        let mut errors = ErrorMap::default();
        let mut img = frame(w, h, PixelLayout::RGBA);
        let style = HeatmapStyle {
            threshold: 0.5,
            max_error: 4.0,
            alpha: 0.6,
            alone: false,
        };
        group.bench_function("error+heatmap", |b| {
            b.iter(|| {
                errors
                    .compute(&planes(&input), &planes(&reconstruction), w, h, 0.5, 0.03)
                    .unwrap();
                let mut image = ImageMut {
                    data: &mut img,
                    width: w,
                    height: h,
                    stride: w * 4,
                    layout: PixelLayout::RGBA,
                };
                draw_heatmap(&mut image, &errors, &style)
            })
        });
        group.bench_function("error-l2-only+heatmap", |b| {
            b.iter(|| {
                errors
                    .compute(&planes(&input), &planes(&reconstruction), w, h, 0.0, 0.03)
                    .unwrap();
                let mut image = ImageMut {
                    data: &mut img,
                    width: w,
                    height: h,
                    stride: w * 4,
                    layout: PixelLayout::RGBA,
                };
                draw_heatmap(&mut image, &errors, &style)
            })
        });
        group.finish();

        // Super-resolution x2 around the model: the frame (w x h) to its luma tensor, and the
        // output frame (2w x 2h) drawn from the model's Y' (bicubic base + luma) or RGB.
        let mut group = c.benchmark_group(format!("{size}/superres-x2"));
        group.sample_size(10);
        let input = frame(w, h, PixelLayout::RGBA);
        let image = ImageRef {
            data: &input,
            width: w,
            height: h,
            stride: w * 4,
            layout: PixelLayout::RGBA,
        };
        let luma_encoder = InputEncoder::new(&preprocessing(false), 1);
        let mut y_in = tensor(w, h, 1);
        group.bench_function("frame-to-luma", |b| {
            b.iter(|| luma_encoder.encode(&image, &mut y_in, w, h))
        });
        let mut output = vec![0u8; 4 * w * h * 4];
        let mut draw = SuperResOutput::new(&preprocessing(false));
        for (name, channels) in [("luma+bicubic", 1), ("rgb", 3)] {
            let result = DecodedImage {
                values: tensor(2 * w, 2 * h, channels),
                channels,
                size: Size {
                    width: 2 * w,
                    height: 2 * h,
                },
            };
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut out = ImageMut {
                        data: &mut output,
                        width: 2 * w,
                        height: 2 * h,
                        stride: 2 * w * 4,
                        layout: PixelLayout::RGBA,
                    };
                    draw.draw(&result, &image, &mut out, true).unwrap()
                })
            });
        }
        group.finish();
    }
}

/// Bytes each step moves (the larger of its input and output), to pick its copy reference.
fn bytes_moved(group: &str, pixels: usize) -> usize {
    let tensor = pixels * 3 * 4;
    match group {
        "frame-to-tensor" | "tensor-to-frame" => tensor,
        "resize" => pixels * 3,
        "segmentation" => pixels * CLASSES * 4,
        "anomaly" => 2 * tensor,
        // The output frame: four times the input's pixels, 4 bytes each.
        "superres-x2" => pixels * 16,
        "map" => pixels * 4,
        _ => tensor,
    }
}

/// Reads criterion's median estimate (ns) of one benchmark.
fn median_ns(dir: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn report(criterion_dir: &std::path::Path) -> std::io::Result<()> {
    let mut rows = Vec::new();
    for (w, h) in SIZES {
        let size = format!("{w}x{h}");
        let size_dir = criterion_dir.join(format!("{size}_copy")).join("memcpy");
        for group in [
            "frame-to-tensor",
            "tensor-to-frame",
            "resize",
            "segmentation",
            "anomaly",
            "superres-x2",
            "map",
        ] {
            let bytes = bytes_moved(group, w * h);
            let Some(copy) = median_ns(&size_dir.join(bytes.to_string())) else {
                continue;
            };
            let dir = criterion_dir.join(format!("{size}_{group}"));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "report")
                .collect();
            names.sort();
            for name in names {
                if let Some(ns) = median_ns(&dir.join(&name)) {
                    rows.push((size.clone(), group, name, ns / 1e6, copy / 1e6, copy / ns));
                }
            }
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out)?;
    let mut csv = String::from("size,step,variant,ms,copy_ms,fraction_of_copy_speed\n");
    println!(
        "\n{:<10} {:<16} {:<22} {:>9} {:>9} {:>8}",
        "size", "step", "variant", "ms", "copy ms", "x copy"
    );
    for (size, group, name, ms, copy_ms, fraction) in &rows {
        println!("{size:<10} {group:<16} {name:<22} {ms:>9.3} {copy_ms:>9.3} {fraction:>8.2}");
        csv.push_str(&format!(
            "{size},{group},{name},{ms:.4},{copy_ms:.4},{fraction:.3}\n"
        ));
    }
    std::fs::write(out.join("core.csv"), csv)?;
    println!("(x copy: copy time / step time; 1/3 = 0.33 is the target at 1920x1080)");
    println!("written: target/bench/core.csv");
    Ok(())
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    if let Err(e) = report(&dir) {
        eprintln!("could not write the report: {e}");
    }
}
