//! What a fuzz campaign leaves behind: its coverage over time (from
//! libFuzzer's status lines or AFL++'s `fuzzer_stats`) as CSV and as an SVG plot
//! a person can open in a browser, and a summary printed at the end.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

/// One status line of a libFuzzer run, stamped with the seconds since start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LibFuzzerSample {
    pub seconds: f64,
    pub execs: u64,
    pub coverage: u64,
    pub features: u64,
    pub corpus: u64,
    pub execs_per_sec: f64,
}

/// Reads a libFuzzer status line: `#4096\tpulse  cov: 812 ft: 2405 corp:
/// 301/88Kb exec/s: 2048 rss: 512Mb`, or in fork mode (`fork`) only the
/// parent's `#30247: cov: 1000 ft: 4551 corp: 354 exec/s: 49
/// oom/timeout/crash: 0/0/0 time: 60s`: there the children's own status
/// lines count only their part. Anything else is `None`.
pub fn parse_libfuzzer_line(line: &str, seconds: f64, fork: bool) -> Option<LibFuzzerSample> {
    let rest = line.strip_prefix('#')?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    if fork && !rest[digits..].starts_with(':') {
        return None;
    }
    let execs = rest[..digits].parse().ok()?;
    let mut sample = LibFuzzerSample {
        seconds,
        execs,
        coverage: 0,
        features: 0,
        corpus: 0,
        execs_per_sec: 0.0,
    };
    let mut has_coverage = false;
    let mut words = rest[digits..].split_whitespace();
    while let Some(word) = words.next() {
        let Some(value) = words.clone().next() else {
            break;
        };
        // corp: is `count/size` in normal mode, `count` in fork mode.
        let number = value.split('/').next().unwrap_or(value);
        match word {
            "cov:" => {
                sample.coverage = number.parse().ok()?;
                has_coverage = true;
            }
            "ft:" => sample.features = number.parse().ok()?,
            "corp:" => sample.corpus = number.parse().ok()?,
            "exec/s:" => sample.execs_per_sec = number.parse().ok()?,
            _ => continue,
        }
        words.next();
    }
    has_coverage.then_some(sample)
}

pub fn libfuzzer_csv(samples: &[LibFuzzerSample]) -> String {
    let mut csv = String::from("seconds,execs,coverage,features,corpus,execs_per_sec\n");
    for s in samples {
        let _ = writeln!(
            csv,
            "{:.1},{},{},{},{},{}",
            s.seconds, s.execs, s.coverage, s.features, s.corpus, s.execs_per_sec
        );
    }
    csv
}

/// A line on a plot.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A plot with one panel per `(quantity, series)`, all over seconds.
pub fn plot_svg(path: &Path, title: &str, panels: &[(&str, Vec<Series>)]) -> Result<()> {
    let height = 320 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (area, (quantity, series)) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
        let points = || series.iter().flat_map(|s| s.points.iter().copied());
        let x_max = points().map(|p| p.0).fold(1.0, f64::max);
        let y_max = points().map(|p| p.1).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{title}: {quantity}"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc(*quantity)
            .draw()?;
        for (i, line) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), color))?
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_normal_and_fork_mode_status_lines() {
        let normal =
            "#4096\tpulse  cov: 812 ft: 2405 corp: 301/88Kb lim: 4096 exec/s: 2048 rss: 512Mb";
        assert_eq!(
            parse_libfuzzer_line(normal, 2.0, false),
            Some(LibFuzzerSample {
                seconds: 2.0,
                execs: 4096,
                coverage: 812,
                features: 2405,
                corpus: 301,
                execs_per_sec: 2048.0,
            })
        );
        let fork = "#30247: cov: 1000 ft: 4551 corp: 354 exec/s: 49 oom/timeout/crash: 0/0/0 time: 60s job: 12 dft_time: 0";
        let sample = parse_libfuzzer_line(fork, 60.0, true).unwrap();
        // In fork mode a child's own status line is not the campaign's.
        assert_eq!(parse_libfuzzer_line(normal, 2.0, true), None);
        assert_eq!(
            (
                sample.execs,
                sample.coverage,
                sample.corpus,
                sample.execs_per_sec
            ),
            (30247, 1000, 354, 49.0)
        );
    }

    #[test]
    fn ignores_lines_that_are_not_status_lines() {
        for line in [
            "INFO: Seed: 1234",
            "#2\tINITED exec/s: 0 rss: 60Mb", // no coverage yet
            "#12 cov: many",
            "==1234==ERROR: AddressSanitizer: heap-use-after-free",
            "",
        ] {
            assert_eq!(parse_libfuzzer_line(line, 0.0, false), None, "{line:?}");
        }
    }

    #[test]
    fn writes_an_svg_with_every_series() {
        let dir = std::env::temp_dir().join(format!("v8cage-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plot.svg");
        let series = |name: &str| Series {
            name: name.into(),
            points: vec![(0.0, 1.0), (5.0, 40.0), (10.0, 55.0)],
        };
        plot_svg(
            &path,
            "eval",
            &[
                ("coverage", vec![series("main"), series("secondary1")]),
                ("execs/s", vec![series("main")]),
            ],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for text in ["eval: coverage", "eval: execs/s", "secondary1", "seconds"] {
            assert!(svg.contains(text), "the plot has no {text:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
