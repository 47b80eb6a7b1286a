//! SVG chart of how news spreads: the fraction of live nodes that know about the joins,
//! each crash and each user event or query, against virtual time.

use std::path::Path;

use plotters::prelude::*;

use crate::world::{CURVES_KEPT, World, name_of};

fn secs(at: hearsay_protocol::Instant) -> f64 {
    at.as_micros() as f64 / 1e6
}

/// Colours for the crash lines, cycled.
const PALETTE: [RGBColor; 6] = [RED, MAGENTA, CYAN, GREEN, RGBColor(255, 140, 0), BLACK];

/// Draws the chart of `world`'s samples to the SVG file `path`.
///
/// # Errors
/// A message when the file cannot be written.
pub fn write_svg(world: &World, path: &Path) -> Result<(), String> {
    draw(world, path).map_err(|e| format!("cannot write plot {}: {e}", path.display()))
}

fn draw(world: &World, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let samples = world.samples();
    let end = world.now().as_micros() as f64 / 1e6;
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "Hearsay: {} nodes, {} profile, seed {}",
        world.len(),
        world.config().profile.name(),
        world.config().seed
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end.max(1e-3), 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("fraction of live nodes that know")
        .draw()?;
    let t = |s: &crate::world::Sample| s.at.as_micros() as f64 / 1e6;
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (t(s), s.join_mean)),
            &BLUE,
        ))?
        .label("joins: mean over members")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    let grey = RGBColor(120, 120, 200);
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (t(s), s.join_min)),
            &grey,
        ))?
        .label("joins: least-known member")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
    for (k, c) in world.crashes().iter().enumerate().take(12) {
        let colour = PALETTE[k % PALETTE.len()];
        let points = samples
            .iter()
            .filter(|s| s.at >= c.at)
            .filter_map(|s| s.crash_known.get(k).map(|f| (t(s), *f)));
        chart
            .draw_series(LineSeries::new(points, &colour))?
            .label(format!("crash of {}", name_of(c.node)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    let dashed = [
        RGBColor(0, 128, 0),
        RGBColor(128, 0, 128),
        RGBColor(0, 128, 128),
        RGBColor(160, 82, 45),
    ];
    for (k, b) in world.broadcasts().iter().enumerate().take(CURVES_KEPT) {
        let colour = dashed[k % dashed.len()];
        let mut points: Vec<(f64, f64)> = b.curve.iter().map(|&(at, f)| (secs(at), f)).collect();
        // Hold the last value to the end of the run.
        if let Some(&(_, f)) = points.last() {
            points.push((end, f));
        }
        let style = ShapeStyle::from(&colour).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(format!(
                "{} {} from {}",
                b.kind.name(),
                b.name,
                name_of(b.node)
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
