//! SVG chart of how news spreads: the fraction of live nodes that know about the joins and
//! each crash, against virtual time.

use std::path::Path;

use plotters::prelude::*;

use crate::world::{World, name_of};

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
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
