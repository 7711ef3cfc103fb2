test_that("exact McNemar power equals brute force over binom.test", {
  brute <- function(n, d, psi, alpha) {
    q <- (psi + d) / (2 * psi)
    sum(vapply(1:n, function(m) {
      rej <- vapply(0:m, function(b) binom.test(b, m)$p.value <= alpha, TRUE)
      dbinom(m, n, psi) * sum(dbinom(0:m, m, q)[rej])
    }, 0))
  }
  expect_equal(mcnemar_power(30, 0.1, 0.3)$power, brute(30, 0.1, 0.3, 0.05), tolerance = 1e-10)
  expect_equal(mcnemar_power(25, -0.2, 0.5, alpha = 0.1)$power, brute(25, -0.2, 0.5, 0.1), tolerance = 1e-10)
})

test_that("sample size reaches the target and one fewer example does not", {
  r <- mcnemar_sample_size(0.2, 0.4, power = 0.8)
  expect_equal(r$n, 84L)
  expect_gte(r$power, 0.8)
  expect_lt(mcnemar_power(83, 0.2, 0.4)$power, 0.8)
  expect_error(mcnemar_power(10, 0.5, 0.2), "difference")
  expect_error(mcnemar_sample_size(0, 0.2), "non-zero")
})

test_that("the target power must be strictly between 0 and 1, as in Python", {
  for (bad in list(0, 1, 1.5, -0.2, NA, "0.8", c(0.8, 0.9))) {
    expect_error(mcnemar_sample_size(0.1, 0.2, power = bad), "power must be one number strictly between 0 and 1")
  }
  expect_error(mcnemar_sample_size(0.1, 0.2, max_n = 0), "max_n must be a positive integer")
})
