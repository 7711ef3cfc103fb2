test_that("simultaneous (Working-Hotelling) band uses sqrt(qchisq(1 - alpha, p)) and contains the pointwise band", {
  set.seed(5)
  d <- expand.grid(example_id = 1:80, eps = c(0, 0.1, 0.2, 0.3))
  d$correct <- runif(nrow(d)) < plogis(1.5 - 8 * d$eps)
  d$attack <- "pgd"
  p <- robustness_curve(d, grid = c(0, 0.15, 0.3))
  s <- robustness_curve(d, grid = c(0, 0.15, 0.3), band = "simultaneous")
  expect_equal(s$critical_value, sqrt(qchisq(0.95, 2)))
  expect_true(all(s$curve$low < p$curve$low & s$curve$high > p$curve$high))
  expect_error(robustness_curve(d, band = "scheffe"), "must be one of")
})
