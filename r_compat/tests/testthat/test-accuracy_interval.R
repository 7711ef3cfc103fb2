test_that("Wilson and Clopper-Pearson match Newcombe (1998, Table II)", {
  # Newcombe, Stat. Med. 17:857-872, Table II, methods 3 (score) and 5 (exact).
  cases <- list(c(81, 263, 0.2553, 0.3662, 0.2527, 0.3676),
                c(15, 148, 0.0624, 0.1605, 0.0578, 0.1617),
                c(0, 20, 0.0000, 0.1611, 0.0000, 0.1684),
                c(1, 29, 0.0061, 0.1718, 0.0009, 0.1776))
  for (cs in cases) {
    x <- rep(c(TRUE, FALSE), c(cs[1], cs[2] - cs[1]))
    w <- accuracy_interval(x, "wilson")
    cp <- accuracy_interval(x, "clopper-pearson")
    expect_equal(round(c(w$low, w$high), 4), cs[3:4])
    expect_equal(round(c(cp$low, cp$high), 4), cs[5:6])
  }
})

test_that("intervals equal base R's prop.test and binom.test", {
  for (n in c(1, 2, 7, 50)) for (x in unique(c(0, 1, n %/% 2, n - 1, n))) {
    if (x < 0) next
    v <- rep(c(TRUE, FALSE), c(x, n - x))
    for (a in c(0.01, 0.05, 0.3)) {
      expect_equal(c(accuracy_interval(v, "wilson", a)$low, accuracy_interval(v, "wilson", a)$high),
                   suppressWarnings(prop.test(x, n, conf.level = 1 - a, correct = FALSE))$conf.int[1:2],
                   tolerance = 1e-12)
      expect_equal(unlist(accuracy_interval(v, "clopper-pearson", a)[c("low", "high")], use.names = FALSE),
                   binom.test(x, n, conf.level = 1 - a)$conf.int[1:2], tolerance = 1e-12)
    }
  }
})

test_that("Agresti-Coull adds two successes and two failures at z = 2", {
  # Agresti & Coull (1998): with z = 2 the centre is (x + 2) / (n + 4).
  alpha <- 2 * pnorm(-2)
  r <- accuracy_interval(rep(c(TRUE, FALSE), c(7, 13)), "agresti-coull", alpha)
  centre <- 9 / 24
  half <- 2 * sqrt(centre * (1 - centre) / 24)
  expect_equal(c(r$low, r$high), c(centre - half, centre + half), tolerance = 1e-12)
  expect_equal(accuracy_interval(rep(FALSE, 5), "agresti-coull")$low, 0)
  expect_equal(accuracy_interval(rep(TRUE, 5), "agresti-coull")$high, 1)
})

test_that("bad input gives clear errors", {
  expect_error(accuracy_interval(logical(0)), "empty")
  expect_error(accuracy_interval(c(0, 1, 2)), "0/1")
  expect_error(accuracy_interval(c(1, NA)), "0/1")
  expect_error(accuracy_interval(c("a", "b")), "logical")
  expect_error(accuracy_interval(c(TRUE, FALSE), alpha = 1.5), "between 0 and 1")
  expect_error(accuracy_interval(c(TRUE, FALSE), method = "wald"), "must be one of")
})
