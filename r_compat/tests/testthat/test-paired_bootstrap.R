test_that("given indices, the percentile interval is computed by hand", {
  a <- c(TRUE, TRUE, FALSE)
  b <- c(FALSE, TRUE, FALSE)
  idx <- rbind(c(1, 1, 1), c(2, 2, 3), c(1, 2, 3), c(3, 3, 3))
  r <- paired_bootstrap(a, b, indices = idx, alpha = 0.5)
  diffs <- c(1, 0, 1 / 3, 0)
  expect_equal(r$distribution, diffs)
  expect_equal(c(r$low, r$high), unname(quantile(diffs, c(0.25, 0.75), type = 7)))
  expect_equal(r$estimate, 1 / 3)
  expect_equal(r$standard_error, sd(diffs))
})

test_that("seeded resampling is reproducible and leaves the RNG alone", {
  set.seed(10)
  before <- .Random.seed
  a <- runif(40) < 0.7
  b <- runif(40) < 0.5
  set.seed(10)
  r1 <- paired_bootstrap(a, b, n_resamples = 500, seed = 1)
  r2 <- paired_bootstrap(a, b, n_resamples = 500, seed = 1)
  expect_identical(r1$distribution, r2$distribution)
  expect_identical(.Random.seed, before)
  expect_true(r1$low <= r1$estimate && r1$estimate <= r1$high)
  expect_error(paired_bootstrap(a, b, indices = matrix(0, 2, 40)), "indices")
})

test_that("a fractional n_resamples is refused, as in Python", {
  expect_error(paired_bootstrap(c(TRUE, FALSE, TRUE), c(TRUE, TRUE, FALSE), n_resamples = 2.5),
               "positive whole number; got 2.5")
})
